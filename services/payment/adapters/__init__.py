"""Event store repository, MongoDB documents and read models, provider clients, the lease."""
