"""The Order aggregate and the saga's decisions: plain Python, no I/O."""
