"""The simulator's edges: its in-memory ledger and the callback sender."""
