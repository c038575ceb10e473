"""HTTP routes and event consumers of the supply service."""
