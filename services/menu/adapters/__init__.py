"""The menu service's adapters: MongoDB documents with their outbox, and the stock
aggregates on JetStream."""
