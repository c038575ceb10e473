"""The streams the projections read, by role: the platform's, or a benchmark's own.

Every stream here is an event-sourced aggregate kind (``kernel/streams.py``): the orders,
the loyalty ledgers, and the demo's generated past of both (``make seed-history``). The
service always reads :data:`PLATFORM`; the benchmark reads and writes a set of its own
(:meth:`Sources.own`), so it can run beside the suite, which seeds and rebuilds from the
platform's streams on the same servers.
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

    @classmethod
    def own(cls, tag: str) -> Sources:
        """Streams of their own (``ES_<TAG>ORDER`` …) for a benchmark run."""
        if not tag.isalnum() or not tag.islower():
            raise ValueError("tag must be lower-case letters and digits")
        kinds = ("order", "loyalty", streams.ORDER_HISTORY_KIND, streams.LOYALTY_HISTORY_KIND)
        return cls(*(f"{tag}{kind}" for kind in kinds))

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
