"""What an order contributes to the figures: pure functions, no I/O.

An order's :class:`OrderFacts` are folded from its events in any order (each event sets
what it knows; repeats set the same again), so duplicated, late or reordered events give the
same facts. :func:`contribution` turns the facts into counters per read-model key; the
projection stores the contribution it last applied and adds only the difference
(:func:`difference`), so applying the same facts twice changes nothing and a refund or a
cancellation moves exactly the figures it should. A rebuild folds the same events with the
same functions, so rebuilt and live figures are equal.

Read-model keys (the store adds its prefix), with ``scope`` one of ``b`` (brand),
``f:<franchise>`` and ``o:<franchise>:<outlet>`` and buckets in the business time zone
(Asia/Jakarta):

- ``s:<scope>:<m|h|d>:<bucket>`` sales per minute, hour, day: ``placed``, ``cancelled``,
  ``orders`` (paid), ``gross``, ``discounts``, ``refunds``, ``refunded_orders``, ``items``,
  ``pm:<method>``, ``pts_redeemed`` (loyalty points spent on paid orders' rewards);
  ``s:<scope>:all`` the same since the first order (the exported counters, see
  ``service_layer/metrics.py``);
- ``m:<scope>:d:<day>`` menu: ``q:<item>`` cups, ``r:<item>`` revenue, ``t:<topping>`` cups
  with that topping, ``cups``, ``cups_top`` (cups with any topping), ``s:<sugar%>``,
  ``i:<ice%>``;
- ``k:<scope>:<h|d>:<bucket>`` kitchen: ``p:<bin>`` payment→ready and ``u:<bin>``
  ready→pick-up histograms in bins of :data:`BIN_S` seconds, ``pn``/``un`` counts, ``late``
  (payment→ready past the service target); the day's also ``wait`` (paid, not ready, not
  cancelled nor refunded in full: in the kitchen now); ``k:<scope>:all`` the histograms
  since the first order, with ``pms``/``ums``, the sums in milliseconds;
- ``c:<scope>:<d|M>:<day|month>`` customers who bought in the bucket (field = customer id,
  value = their orders);
- ``u:<b|f:franchise>:<customer>``: ``t:<order>`` (epoch seconds of the order) and
  ``n:<order>`` (net rupiah) of each order the customer kept, brand-wide and per franchise
  (an owner's view of a customer never includes what they bought from another franchise),
  for first order, recency, frequency and money;
- ``l:<b|f:franchise>:<d:day|total>`` loyalty ledgers: points ``issued``, ``redeemed``,
  ``reversed``, ``released`` (per franchise only what names it: points earned on its orders);
- ``x``: the directory, ``f:<franchise>`` and ``o:<franchise>:<outlet>`` → orders placed.

Sales are counted in the bucket of the order's creation, so a refund days later lowers the
day the sale was made (as a settlement report would), and every figure of one order moves
together.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bobaku.kernel.events import Event

BIN_S = 15
MAX_BIN = 480  # two hours; anything slower lands in the last bin

Contribution = dict[str, dict[str, int]]


@dataclass
class OrderFacts:
    order_id: str
    franchise_id: str = ""
    outlet_id: str = ""
    customer_id: str = ""
    created_ts: float | None = None
    method: str = ""
    lines: list[dict[str, Any]] = field(default_factory=list)
    subtotal: int = 0
    discount: int = 0
    rewards_discount: int | None = None
    rewards_points: int = 0
    paid_ts: float | None = None
    paid_amount: int = 0
    cancelled: bool = False
    refunded: int = 0
    ready_ts: float | None = None
    completed_ts: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> OrderFacts:
        return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})

    @property
    def known(self) -> bool:
        """The order's creation has been seen: without it nothing can be attributed."""
        return self.created_ts is not None and bool(self.outlet_id)

    @property
    def discounts(self) -> int:
        return self.rewards_discount if self.rewards_discount is not None else self.discount

    @property
    def bought(self) -> bool:
        """Paid and not refunded in full: the customer kept something."""
        paid = self.subtotal - self.discounts
        return self.paid_ts is not None and (self.refunded == 0 or self.refunded < paid)


def _ts(event: Event) -> float:
    return event.timestamp.timestamp()


def fold(facts: OrderFacts, event: Event) -> OrderFacts:
    """Fold one order event into the facts; the result does not depend on arrival order.

    An event without the fields its type promises (written by a producer that skipped the
    schema, or a version this service does not know) changes nothing: it is skipped, not
    retried into the dead letters while every later order waits behind it."""
    try:
        return _fold(replace(facts), event)
    except (KeyError, TypeError, ValueError):
        return facts


def _fold(facts: OrderFacts, event: Event) -> OrderFacts:
    d = event.data
    kind = event.type
    if kind == "order.created":
        facts.franchise_id = d.get("franchise_id") or event.tenant or ""
        facts.outlet_id = d["outlet_id"]
        facts.customer_id = d.get("customer_id") or d["user_id"]
        facts.created_ts = _ts(event)
        facts.method = d["payment_method"]
        facts.lines = [_line(line) for line in d.get("lines", [])] or [
            _line(item) for item in d.get("items", [])
        ]
        facts.subtotal = int(d.get("subtotal_amount", d["total_amount"]))
        facts.discount = int(d.get("discount_amount", 0))
    elif kind == "order.rewards_redeemed":
        facts.rewards_discount = int(d["discount_amount"])
        facts.rewards_points = int(d.get("points", 0))
    elif kind == "order.payment_completed":
        facts.paid_ts = _ts(event)
        facts.paid_amount = int(d["amount"])
    elif kind == "order.ready":
        facts.ready_ts = max(facts.ready_ts or 0.0, _ts(event))  # the last ready after a recall
    elif kind == "order.completed":
        facts.completed_ts = _ts(event)
    elif kind == "order.cancelled":
        facts.cancelled = True
    elif kind == "order.refunded":
        facts.refunded = max(facts.refunded, int(d["total_refunded"]))
    return facts


def _line(line: Mapping[str, Any]) -> dict[str, Any]:
    custom = line.get("customizations") or {}
    toppings = [t["id"] if isinstance(t, dict) else str(t) for t in custom.get("toppings") or []]
    return {
        "menu_id": str(line["menu_id"]),
        "name": str(line.get("name") or line["menu_id"]),
        "quantity": int(line["quantity"]),
        "subtotal": int(line.get("subtotal", 0)),
        "toppings": toppings,
        "sugar": custom.get("sugar_level"),
        "ice": custom.get("ice_level"),
    }


def scopes(franchise_id: str, outlet_id: str) -> tuple[str, str, str]:
    return ("b", f"f:{franchise_id}", f"o:{franchise_id}:{outlet_id}")


def local(ts: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, UTC).astimezone(zone)


def buckets(ts: float, zone: ZoneInfo) -> dict[str, str]:
    at = local(ts, zone)
    return {
        "m": at.strftime("%Y-%m-%dT%H:%M"),
        "h": at.strftime("%Y-%m-%dT%H"),
        "d": at.strftime("%Y-%m-%d"),
        "M": at.strftime("%Y-%m"),
    }


@dataclass(frozen=True)
class Share:
    """Which figures this instance keeps, pooled or a franchise's silo (``docs/analytics.md``
    "Pooled and silo").

    - A silo (``silo_of``) keeps its franchise's orders only, and of them the franchise
      and outlet figures; not the brand's, which are HQ's and the pooled instance's.
    - The pooled instance keeps every figure of a pooled franchise; of a franchise in
      ``silos`` (the routing table's, live) only the brand-level figures (scope ``b``,
      brand-wide customer histories and loyalty), its daily sales totals (HQ's table of
      franchises) and the directory. Its franchise and outlet detail lives in its silo.

    The default keeps everything (one pooled instance, no silos)."""

    silo_of: str | None = None
    silos: Container[str] = frozenset()

    def handles(self, franchise_id: str) -> bool:
        """Whether an order of ``franchise_id`` is this instance's to fold at all."""
        return self.silo_of is None or franchise_id == self.silo_of

    def keeps(self, franchise_id: str, key: str) -> bool:
        brand = key.split(":", 2)[1:2] == ["b"]
        if self.silo_of is not None:
            return franchise_id == self.silo_of and not brand
        if franchise_id not in self.silos:
            return True
        return brand or key == "x" or key.startswith(f"s:f:{franchise_id}:d:")

    def only(self, franchise_id: str, out: Contribution) -> Contribution:
        return {k: v for k, v in out.items() if self.keeps(franchise_id, k)}


def franchise_of(event: Event) -> str:
    """The franchise an order event belongs to (its data's, else its subject's tenant)."""
    return str(event.data.get("franchise_id") or event.tenant or "")


@dataclass(frozen=True)
class Rules:
    """The business rules the figures depend on, and the share this instance keeps."""

    zone: ZoneInfo
    # Orders whose payment→ready takes longer count as late.
    service_target_s: int = 600
    # Minute buckets are kept this long after their minute (hours and days for ever).
    minute_retention: timedelta = timedelta(days=2)
    share: Share = field(default_factory=Share)


def add_to(out: Contribution, key: str, fld: str, value: int) -> None:
    """Add to a counter; counters that reach zero (and rows left empty) are dropped."""
    if not value:
        return
    row = out.setdefault(key, {})
    total = row.get(fld, 0) + value
    if total:
        row[fld] = total
    else:
        del row[fld]
        if not row:
            del out[key]


def minute_live(bucket: str, rules: Rules, now: float) -> bool:
    """Whether a minute bucket (local ``YYYY-MM-DDTHH:MM``) is still kept at ``now``."""
    start = datetime.strptime(bucket, "%Y-%m-%dT%H:%M").replace(tzinfo=rules.zone)
    return (start + rules.minute_retention).timestamp() > now


def expires_at(key: str, rules: Rules) -> int | None:
    """When a key expires (epoch seconds), for minute buckets; None: kept."""
    parts = key.split(":")
    if parts[0] != "s" or parts[-3] != "m":
        return None
    bucket = ":".join(parts[-2:])
    start = datetime.strptime(bucket, "%Y-%m-%dT%H:%M").replace(tzinfo=rules.zone)
    return int((start + rules.minute_retention).timestamp())


def contribution(facts: OrderFacts, rules: Rules, now: float) -> Contribution:
    """Every counter this order adds, by read-model key."""
    out: Contribution = {}
    if not facts.known or facts.created_ts is None:
        return out
    at = buckets(facts.created_ts, rules.zone)
    paid = facts.paid_ts is not None
    cups = sum(line["quantity"] for line in facts.lines)
    sales: dict[str, int] = {
        "placed": 1,
        "cancelled": int(facts.cancelled),
        "orders": int(paid),
        "gross": facts.subtotal if paid else 0,
        "discounts": facts.discounts if paid else 0,
        "refunds": facts.refunded,
        "refunded_orders": int(facts.refunded > 0),
        "items": cups if paid else 0,
        f"pm:{facts.method}": int(paid),
        # Loyalty points spent on the order's rewards (kept: the order was paid).
        "pts_redeemed": facts.rewards_points if paid else 0,
    }
    scope_list = scopes(facts.franchise_id, facts.outlet_id)
    add_to(out, "x", f"f:{facts.franchise_id}", 1)
    add_to(out, "x", f"o:{facts.franchise_id}:{facts.outlet_id}", 1)
    for scope in scope_list:
        for gran in ("m", "h", "d"):
            if gran == "m" and not minute_live(at["m"], rules, now):
                continue
            for fld, value in sales.items():
                add_to(out, f"s:{scope}:{gran}:{at[gran]}", fld, value)
        for fld, value in sales.items():
            add_to(out, f"s:{scope}:all", fld, value)
        if facts.bought:
            _menu(out, f"m:{scope}:d:{at['d']}", facts.lines)
            for gran in ("d", "M"):
                add_to(out, f"c:{scope}:{gran}:{at[gran]}", facts.customer_id, 1)
        if paid and facts.paid_ts is not None:
            _kitchen(out, scope, facts, rules)
    if facts.bought:
        net = facts.subtotal - facts.discounts - facts.refunded
        for scope in scope_list[:2]:
            key = f"u:{scope}:{facts.customer_id}"
            add_to(out, key, f"t:{facts.order_id}", int(facts.created_ts))
            add_to(out, key, f"n:{facts.order_id}", net)
    return rules.share.only(facts.franchise_id, out)


def _menu(out: Contribution, key: str, lines: Iterable[Mapping[str, Any]]) -> None:
    for line in lines:
        qty = int(line["quantity"])
        add_to(out, key, f"q:{line['menu_id']}", qty)
        add_to(out, key, f"r:{line['menu_id']}", int(line["subtotal"]))
        add_to(out, key, "cups", qty)
        if line["toppings"]:
            add_to(out, key, "cups_top", qty)
        for topping in line["toppings"]:
            add_to(out, key, f"t:{topping}", qty)
        if line.get("sugar") is not None:
            add_to(out, key, f"s:{line['sugar']}", qty)
        if line.get("ice") is not None:
            add_to(out, key, f"i:{line['ice']}", qty)


def _bin(seconds: float) -> int:
    return min(max(int(seconds // BIN_S), 0), MAX_BIN)


def _kitchen(out: Contribution, scope: str, facts: OrderFacts, rules: Rules) -> None:
    assert facts.paid_ts is not None
    at = buckets(facts.paid_ts, rules.zone)
    day = f"k:{scope}:d:{at['d']}"
    keys = (f"k:{scope}:h:{at['h']}", day, f"k:{scope}:all")
    if facts.ready_ts is None and not facts.cancelled and facts.bought:
        add_to(out, day, "wait", 1)
    if facts.ready_ts is not None and facts.ready_ts >= facts.paid_ts:
        prep = facts.ready_ts - facts.paid_ts
        for key in keys:
            add_to(out, key, f"p:{_bin(prep)}", 1)
            add_to(out, key, "pn", 1)
            add_to(out, key, "late", int(prep > rules.service_target_s))
        add_to(out, keys[2], "pms", round(prep * 1000))
        if facts.completed_ts is not None and facts.completed_ts >= facts.ready_ts:
            pick = facts.completed_ts - facts.ready_ts
            for key in keys:
                add_to(out, key, f"u:{_bin(pick)}", 1)
                add_to(out, key, "un", 1)
            add_to(out, keys[2], "ums", round(pick * 1000))


def difference(old: Contribution, new: Contribution) -> Contribution:
    """What to add to go from ``old`` to ``new`` (zero entries left out)."""
    out: Contribution = {}
    for key in old.keys() | new.keys():
        was, now = old.get(key, {}), new.get(key, {})
        for fld in was.keys() | now.keys():
            add_to(out, key, fld, now.get(fld, 0) - was.get(fld, 0))
    return out


def merge(into: Contribution, more: Contribution) -> None:
    for key, row in more.items():
        for fld, value in row.items():
            add_to(into, key, fld, value)


# --- reading the figures -------------------------------------------------------------------


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a binned histogram, as the upper edge of its bin, seconds."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for b in sorted(histogram):
        seen += histogram[b]
        if seen >= rank:
            return float((b + 1) * BIN_S)
    return float((max(histogram) + 1) * BIN_S)


def rfm_segment(recency_days: int, frequency: int, monetary: int) -> str:
    """A customer's segment from recency (days since the last order), frequency (orders)
    and monetary (net rupiah) — the usual RFM grid reduced to named groups."""
    if frequency >= 4 and recency_days <= 30:
        return "champions"
    if frequency >= 4:
        return "at_risk" if recency_days > 60 else "loyal"
    if frequency == 1 and recency_days <= 30:
        return "new"
    if recency_days <= 30:
        return "promising" if monetary < 200_000 else "potential_loyal"
    if recency_days <= 90:
        return "need_attention"
    return "hibernating"


def sales_figures(row: Mapping[str, int]) -> dict[str, Any]:
    """The sales figures of one bucket (or of several added up)."""
    orders = row.get("orders", 0)
    gross, discounts, refunds = row.get("gross", 0), row.get("discounts", 0), row.get("refunds", 0)
    net = gross - discounts - refunds
    placed = row.get("placed", 0)
    return {
        "orders": orders,
        "placed": placed,
        "cancelled": row.get("cancelled", 0),
        "gross": gross,
        "discounts": discounts,
        "refunds": refunds,
        "refunded_orders": row.get("refunded_orders", 0),
        "net": net,
        "items": row.get("items", 0),
        "average_basket": round(net / orders) if orders else 0,
        "items_per_order": round(row.get("items", 0) / orders, 2) if orders else 0.0,
        "cancellation_rate": round(row.get("cancelled", 0) / placed, 4) if placed else 0.0,
        "payment_methods": {
            k.removeprefix("pm:"): v for k, v in sorted(row.items()) if k.startswith("pm:") and v
        },
    }
