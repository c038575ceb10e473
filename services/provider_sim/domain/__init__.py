"""What the simulated providers are and how they behave: plain Python, no I/O."""
