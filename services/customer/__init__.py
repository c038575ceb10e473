"""The customer service: identity (register, log in, refresh-token rotation, JWKS), profile
and preferences, and loyalty (an event-sourced points ledger per customer, tiers, rewards).

Layers import one way: ``domain`` (plain Python) ← ``service_layer`` ← ``adapters`` (MongoDB,
JetStream, argon2) ← ``entrypoints`` (HTTP routes, event consumers); ``bootstrap`` wires them.
"""
