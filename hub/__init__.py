"""The live hub (``bobaku.hub``): a Tornado websocket server that fans order, kitchen,
operations and inbox channels out to clients, fed from JetStream, with recovery by
position, presence on kitchen channels, bounded client queues, and any number of
replicas. ``python -m bobaku.hub`` runs it; ``docs/hub-protocol.md`` is its protocol.

Modules, each with one purpose:

- ``settings``: ``HubSettings``, the kernel's settings plus the hub's
- ``channels``: channel names, namespaces, subjects
- ``protocol``: commands, replies, pushes, error and close codes
- ``authorization``: who may subscribe to what
- ``routing``, ``notifications``: source events → channel publications (pure)
- ``broker``: the history stream, the router that writes it, the live feed that reads it
- ``recovery``: what a reconnecting client missed, or why that cannot be known
- ``presence``: kitchen displays online, shared by replicas
- ``limits``: subscriptions, message size, the bounded send queue
- ``fanout``: the subscriptions on this replica and delivery to them
- ``session``: one connection and its commands
- ``metrics``: Prometheus metrics
- ``app``: wiring, HTTP routes, start and stop
"""
