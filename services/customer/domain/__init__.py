"""The customer service's business rules, in plain Python without I/O."""
