"""The customer service: identity (register, log in, refresh-token rotation, JWKS), profile
and preferences, and loyalty (an event-sourced points ledger per customer, tiers, rewards).

The service template (docs/architecture.md, "How a service is shaped"): ``domain`` (plain
Python: model, commands, typed events, errors) ← ``adapters`` (MongoDB, JetStream, argon2) ←
``service_layer`` (handlers named after the commands, views) ← ``entrypoints`` (HTTP routes,
event consumers); ``bootstrap`` wires them.
"""
