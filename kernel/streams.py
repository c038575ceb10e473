"""The stream catalog: every JetStream stream the platform publishes to, in one place.

Each :class:`Stream` names its JetStream stream (:class:`~bobaku.kernel.bus.StreamSpec`:
name, subjects, retention), the address of one message (``es.order.{tenant}.{order_id}``),
the event types it carries and who produces them. Producers and consumers take names and
subject filters from here (``ORDER.name``, ``ORDER.wildcard``, ``EVENTS.filter("…")``)
instead of string literals; :func:`ensure_streams` creates another part's stream so that
either side may start first; :mod:`bobaku.kernel.asyncapi` documents the catalog.

A new part adds its stream here (an aggregate kind: ``aggregate("supply", …)``) and its
event types' schemas under ``kernel/events/schemas``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bobaku.kernel.bus import DEAD_LETTERS as DEAD_LETTER_SPEC
from bobaku.kernel.bus import EVENTS as EVENTS_SPEC
from bobaku.kernel.bus import EventBus, StreamSpec


@dataclass(frozen=True)
class Stream:
    spec: StreamSpec
    # The subject of one message, with {parameters} (an AsyncAPI channel address).
    address: str
    # Event types carried, by prefix ("order." = every order.* type).
    carries: tuple[str, ...]
    producers: tuple[str, ...]
    description: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def wildcard(self) -> str:
        """The filter that matches every message of the stream."""
        return self.spec.subjects[0]

    def carries_type(self, event_type: str) -> bool:
        return any(event_type.startswith(prefix) for prefix in self.carries)

    def filter(self, event_type: str, tenant: str = "*") -> str:
        """The subject filter of one event type (integration events are one subject per
        tenant and type; an aggregate stream mixes its types, so it is the wildcard)."""
        if not self.carries_type(event_type):
            raise ValueError(f"{self.name} does not carry {event_type}")
        if "{type}" in self.address:
            return self.address.replace("{tenant}", tenant).replace("{type}", event_type)
        return self.wildcard

    def family(self, domain: str, tenant: str = "*") -> str:
        """The subject filter of every ``<domain>.*`` event type (``events.*.menu.>``)."""
        if "{type}" not in self.address or not self.carries_type(f"{domain}."):
            raise ValueError(f"{self.name} has no subjects per {domain}.* type")
        return self.address.replace("{tenant}", tenant).replace("{type}", f"{domain}.>")

    @property
    def retention(self) -> str:
        age = self.spec.max_age_s
        return "until deleted" if not age else f"{age / 86400:g} days"


def tenant_of(subject: str) -> str | None:
    """The tenant a logical subject names (a franchise id or ``brand``):
    ``es.<kind>.<tenant>.<key>`` for aggregates, ``events.<tenant>.<type>`` for integration
    events; None for a subject that names none (dead letters, NATS's own)."""
    parts = subject.split(".")
    if parts[0] == "es" and len(parts) >= 4:
        return parts[2]
    if parts[0] == "events" and len(parts) >= 3:
        return parts[1]
    return None


def aggregate_spec(kind: str) -> StreamSpec:
    """The stream of an event-sourced aggregate kind (what ``AggregateStore(kind)`` uses)."""
    return StreamSpec(
        name=f"ES_{kind.upper()}",
        subjects=(f"es.{kind}.>",),
        description=f"event-sourced {kind} aggregates: es.{kind}.<tenant>.<id>",
    )


def aggregate(kind: str, key: str, producer: str, description: str) -> Stream:
    return Stream(
        aggregate_spec(kind),
        f"es.{kind}.{{tenant}}.{{{key}}}",
        (f"{kind}.",),
        (producer,),
        description,
    )


ORDER = aggregate("order", "order_id", "order", "The Order aggregates: one subject per order.")
PAYMENT = aggregate(
    "payment", "intent_id", "payment", "The Payment aggregates: one subject per intent."
)
# The ledger's own facts, named in full: loyalty.reward_expiring is an integration event on
# EVENTS (the customer service's expiry job publishes it; the notification service listens).
LOYALTY_LEDGER_TYPES = (
    "loyalty.points_earned", "loyalty.points_redeemed", "loyalty.redemption_released",
    "loyalty.points_reversed", "loyalty.points_expired", "loyalty.tier_changed",
)  # fmt: skip
LOYALTY = Stream(
    aggregate_spec("loyalty"),
    "es.loyalty.{tenant}.{customer_id}",
    LOYALTY_LEDGER_TYPES,
    ("customer",),
    "Loyalty ledgers: one subject per customer.",
)
# The supply service's aggregates. Each names its event types in full (not "supply."):
# supply.stock_low and supply.availability_changed are integration events on EVENTS.
SUPPLY_STOCK_TYPES = (
    "supply.stock_received", "supply.stock_wasted", "supply.stock_counted",
    "supply.stock_reserved", "supply.stock_released", "supply.stock_committed",
    "supply.stock_shipped",
)  # fmt: skip
SUPPLY = Stream(
    aggregate_spec("supply"),
    "es.supply.{tenant}.{outlet_id}",
    SUPPLY_STOCK_TYPES,
    ("supply",),
    "Outlet ingredient ledgers: one subject per outlet, a balance per ingredient.",
)
SUPPLY_PO = Stream(
    aggregate_spec("supplypo"),
    "es.supplypo.{tenant}.{po_id}",
    ("supply.po_",),
    ("supply",),
    "Purchase orders: one subject per purchase order.",
)
SUPPLY_TRANSFER = Stream(
    aggregate_spec("supplytransfer"),
    "es.supplytransfer.{tenant}.{transfer_id}",
    ("supply.transfer_",),
    ("supply",),
    "Stock transfers between outlets of one franchise: one subject per transfer.",
)
EVENTS = Stream(
    EVENTS_SPEC,
    "events.{tenant}.{type}",
    (
        "customer.",
        "menu.",
        "notification.",
        "supply.stock_low",
        "supply.availability_changed",
        "loyalty.reward_expiring",
        "analytics.",
    ),
    ("customer", "menu", "order", "supply", "analytics"),
    "Integration events (facts that are no aggregate's own history); tenant `brand` for "
    "brand-wide ones.",
)
# The version of the demo history's generator (services/analytics/domain/history.py and
# service_layer/seed_history.py), in the history streams' names: a generator that makes a
# different year writes streams of its own, so a year an older one stored is never counted
# with it (seed-history deletes the older streams). Bump it with any change to what the
# generator makes (tests/services/analytics/test_seed_history.py pins a generated day's
# digest per version).
HISTORY_VERSION = 2
ORDER_HISTORY_KIND = f"orderhistoryv{HISTORY_VERSION}"
LOYALTY_HISTORY_KIND = f"loyaltyhistoryv{HISTORY_VERSION}"
# A generated past for the demo brand (``make seed-history``): order.* events as the order
# service writes them, kept apart so that only analytics, which asks for it, ever reads
# them (no kitchen screen, notification or loyalty ledger acts on a made-up year). It
# carries no type of its own: its types are ORDER's.
ORDER_HISTORY = Stream(
    aggregate_spec(ORDER_HISTORY_KIND),
    f"es.{ORDER_HISTORY_KIND}.{{tenant}}.{{order_id}}",
    (),
    ("analytics",),
    "The demo brand's generated year of order events (make seed-history), read by analytics "
    "alone; the same order.* types as ES_ORDER.",
)
# The loyalty ledgers of that generated past's customers: loyalty.* facts decided by the
# customer service's rules and appended as its ledger store appends them, kept apart for the
# same reason (no customer account or balance of the platform moves with a made-up year).
LOYALTY_HISTORY = Stream(
    aggregate_spec(LOYALTY_HISTORY_KIND),
    f"es.{LOYALTY_HISTORY_KIND}.{{tenant}}.{{customer_id}}",
    (),
    ("analytics",),
    "The loyalty ledgers of the demo's generated customers (make seed-history), read by "
    "analytics alone; the same loyalty.* types as ES_LOYALTY.",
)
DEAD_LETTERS = Stream(
    DEAD_LETTER_SPEC,
    "deadletter.{stream}.{consumer}",
    (),
    (),
    "Messages a consumer gave up on, with the reason in the header Bobaku-Dlq-Reason.",
)

CATALOG: tuple[Stream, ...] = (
    ORDER, PAYMENT, LOYALTY, SUPPLY, SUPPLY_PO, SUPPLY_TRANSFER, EVENTS, ORDER_HISTORY,
    LOYALTY_HISTORY, DEAD_LETTERS,
)  # fmt: skip


def stream_of(event_type: str) -> Stream:
    """The stream that carries ``event_type``."""
    for stream in CATALOG:
        if stream.carries_type(event_type):
            return stream
    raise KeyError(f"no stream carries {event_type}; add it to kernel.streams.CATALOG")


async def ensure_streams(bus: EventBus, *streams: Stream) -> None:
    """Create or update ``streams`` (another part's too: whichever starts first makes it)."""
    for stream in streams:
        await bus.ensure_stream(stream.spec)
