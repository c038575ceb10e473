"""The simulator's operations, one method per command."""
