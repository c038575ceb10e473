"""Use cases of the customer service: each loads what it needs, asks the domain, stores."""
