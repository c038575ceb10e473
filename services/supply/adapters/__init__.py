"""What the supply service talks to: MongoDB, JetStream aggregates, the menu service."""
