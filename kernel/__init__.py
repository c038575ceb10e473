"""The kernel every BobaKu process imports: settings, events, bus, aggregate store,
databases, cache, auth, telemetry and the HTTP app factory.

Import from the submodules (``from bobaku.kernel.bus import EventBus``); this package keeps
no state of its own.
"""
