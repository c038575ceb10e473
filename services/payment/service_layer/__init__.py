"""Handlers, one per command, and the read-side views."""
