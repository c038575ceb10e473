"""Use cases of the supply service."""
