"""The event envelope and the registry of versioned event schemas."""

from bobaku.kernel.events.envelope import Event, EventMetadata, new_event, new_event_id
from bobaku.kernel.events.registry import SchemaRegistry, default_registry

__all__ = [
    "Event",
    "EventMetadata",
    "SchemaRegistry",
    "default_registry",
    "new_event",
    "new_event_id",
]
