"""The Payment aggregate, its events and rules, the fee table: plain Python, no I/O."""
