"""The customer service's ports to the outside: MongoDB, JetStream and argon2."""
