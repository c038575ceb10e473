"""HTTP routes, the webhook, the read-model projector and the deadline sweeper."""
