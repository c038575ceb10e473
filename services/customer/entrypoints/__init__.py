"""How the world reaches the customer service: HTTP routes and event consumers."""
