"""The streams the projections read, by role.

Every stream here is an event-sourced aggregate kind (``kernel/streams.py``): the orders,
the loyalty ledgers, and the demo's generated past of both (``make seed-history``). The
service reads :data:`PLATFORM`. (A benchmark beside the suite runs as a deployment of its
own, whose streams carry its prefix: ``kernel/names.py``.)
"""

from __future__ import annotations

from dataclasses import dataclass

from bobaku.kernel import streams
from bobaku.kernel.bus import StreamSpec
from bobaku.kernel.streams import aggregate_spec


@dataclass(frozen=True)
class Sources:
    """Aggregate kinds (``AggregateStore(bus, kind)``) by role."""

    order: str = "order"
    loyalty: str = "loyalty"
    order_history: str = streams.ORDER_HISTORY_KIND
    loyalty_history: str = streams.LOYALTY_HISTORY_KIND

    def projected(self) -> tuple[tuple[str, StreamSpec], ...]:
        """(consumer name, stream) of every stream the projections read."""
        return (
            ("orders", aggregate_spec(self.order)),
            ("loyalty", aggregate_spec(self.loyalty)),
            ("history", aggregate_spec(self.order_history)),
            ("loyaltyhistory", aggregate_spec(self.loyalty_history)),
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for _, spec in self.projected())


PLATFORM = Sources()
assert PLATFORM.projected() == (
    ("orders", streams.ORDER.spec),
    ("loyalty", streams.LOYALTY.spec),
    ("history", streams.ORDER_HISTORY.spec),
    ("loyaltyhistory", streams.LOYALTY_HISTORY.spec),
)
