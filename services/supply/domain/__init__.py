"""Supply rules: plain Python, no I/O."""
