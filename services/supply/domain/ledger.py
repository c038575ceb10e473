"""An outlet's stock of every ingredient, as the state of one event-sourced aggregate.

The aggregate is keyed by outlet and holds one balance per ingredient (the ledger of
outlet x ingredient): units on hand, and the units reservations hold for orders not yet
made. Keeping an outlet's ingredients in one aggregate makes an order's reservation of
several ingredients one atomic append: it holds all of them or none.

Each decision returns the fact to record, or ``None`` when it was already recorded
(reservations are keyed by order id; receipts, waste, counts and transfers by a reference),
so every operation is idempotent. :meth:`OutletStock.apply` folds a recorded fact in.

An ingredient the outlet never received or counted is not tracked, so it never limits an
order (as an uncounted item is unlimited on the menu); the first receipt or stock take
starts tracking it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

RECEIVED = "supply.stock_received"
WASTED = "supply.stock_wasted"
COUNTED = "supply.stock_counted"
RESERVED = "supply.stock_reserved"
RELEASED = "supply.stock_released"
COMMITTED = "supply.stock_committed"
SHIPPED = "supply.stock_shipped"
STOCK_EVENTS = (RECEIVED, WASTED, COUNTED, RESERVED, RELEASED, COMMITTED, SHIPPED)

WASTE_REASONS = ("expired", "spilled", "damaged", "quality", "other")
ReceiptSource = Literal["purchase_order", "transfer", "manual"]
ReservationStatus = Literal["reserved", "released", "committed"]


@dataclass(frozen=True)
class StockFact:
    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Shortage:
    ingredient_id: str
    requested: int
    available: int

    def as_record(self) -> dict[str, Any]:
        return {
            "ingredient_id": self.ingredient_id,
            "requested": self.requested,
            "available": self.available,
        }


class InsufficientStock(Exception):
    def __init__(self, shortages: list[Shortage]) -> None:
        super().__init__(", ".join(f"{s.ingredient_id}: {s.available} left" for s in shortages))
        self.shortages = shortages


class ReservationNotFound(Exception):
    pass


class ReservationClosed(Exception):
    def __init__(self, order_id: str, status: ReservationStatus) -> None:
        super().__init__(f"the reservation of {order_id} is already {status}")
        self.status = status


@dataclass
class Reservation:
    order_id: str
    held: dict[str, int]
    status: ReservationStatus
    changed_at: datetime


def _lines(quantities: Mapping[str, int]) -> list[dict[str, Any]]:
    return [{"ingredient_id": k, "quantity": v} for k, v in sorted(quantities.items())]


@dataclass
class OutletStock:
    outlet_id: str
    on_hand: dict[str, int] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    # References already booked (receipt, waste, count, transfer ids) and when, oldest first.
    booked: dict[str, datetime] = field(default_factory=dict)
    # Settled reservations and old references are forgotten after this long (event time).
    memory: timedelta = timedelta(days=7)
    # Kept as events are applied, so that no operation walks the reservations: the units
    # open reservations hold per ingredient, and the settled ones' order ids, oldest first
    # (what :meth:`_forget` drops from the front). An order then costs the same whether the
    # outlet remembers ten orders or ten thousand.
    holding: dict[str, int] = field(default_factory=dict, repr=False)
    settled: dict[str, datetime] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for r in self.reservations.values():
            if r.status == "reserved":
                self._hold(r.held, 1)
            else:
                r.held = {}  # (snapshots taken before settled ones dropped theirs)
                self.settled[r.order_id] = r.changed_at
        self.settled = dict(sorted(self.settled.items(), key=lambda kv: kv[1]))
        self.booked = dict(sorted(self.booked.items(), key=lambda kv: kv[1]))

    def _hold(self, held: Mapping[str, int], sign: int) -> None:
        for i, q in held.items():
            left = self.holding.get(i, 0) + sign * q
            if left:
                self.holding[i] = left
            else:
                self.holding.pop(i, None)

    # --- reading -------------------------------------------------------------------------

    def reserved(self, ingredient_id: str) -> int:
        return self.holding.get(ingredient_id, 0)

    def available(self, ingredient_id: str) -> int | None:
        """Units that can still be promised; ``None`` for an untracked ingredient."""
        if ingredient_id not in self.on_hand:
            return None
        return max(0, self.on_hand[ingredient_id] - self.reserved(ingredient_id))

    def availability(self) -> dict[str, int | None]:
        return {i: self.available(i) for i in self.on_hand}

    def report(self) -> list[dict[str, Any]]:
        return [
            {
                "ingredient_id": i,
                "on_hand": self.on_hand[i],
                "reserved": self.reserved(i),
                "available": self.available(i) or 0,
            }
            for i in sorted(self.on_hand)
        ]

    def levels(self, ingredient_ids: Any) -> list[dict[str, Any]]:
        return [
            {"ingredient_id": i, "available": self.available(i) or 0}
            for i in sorted(set(ingredient_ids))
            if i in self.on_hand
        ]

    # --- deciding ------------------------------------------------------------------------

    def _fact(self, type: str, touched: Mapping[str, int], **data: Any) -> StockFact:
        """A fact with the touched ingredients' available units ``before`` and ``after`` it,
        so a reader sees a par level crossed without loading the ledger."""
        return StockFact(
            type,
            {
                "outlet_id": self.outlet_id,
                "lines": _lines(touched),
                "before": self.levels(touched),
                "after": self._after(type, touched),
                **data,
            },
        )

    def _after(self, type: str, touched: Mapping[str, int]) -> list[dict[str, Any]]:
        out = []
        for i, q in sorted(touched.items()):
            if i not in self.on_hand and type not in (RECEIVED, COUNTED):
                continue
            on_hand, reserved = self.on_hand.get(i, 0), self.reserved(i)
            if type == RECEIVED:
                on_hand += q
            elif type in (WASTED, SHIPPED):
                on_hand -= q
            elif type == COUNTED:
                on_hand = q
            elif type == RESERVED:
                reserved += q
            elif type == RELEASED:
                reserved -= q
            elif type == COMMITTED:
                on_hand, reserved = on_hand - q, reserved - q
            out.append({"ingredient_id": i, "available": max(0, max(0, on_hand) - reserved)})
        return out

    def receive(
        self, ref: str, quantities: Mapping[str, int], source: ReceiptSource
    ) -> StockFact | None:
        if ref in self.booked:
            return None
        return self._fact(RECEIVED, quantities, ref=ref, source=source)

    def waste(self, ref: str, quantities: Mapping[str, int], reason: str) -> StockFact | None:
        if ref in self.booked:
            return None
        self._require_on_hand(quantities)
        return self._fact(WASTED, quantities, ref=ref, reason=reason)

    def count(self, ref: str, counted: Mapping[str, int]) -> StockFact | None:
        """A stock take: the counted units become the level; the variance is recorded."""
        if ref in self.booked:
            return None
        counts = [
            {
                "ingredient_id": i,
                "counted": n,
                "expected": self.on_hand.get(i, 0),
                "variance": n - self.on_hand.get(i, 0),
            }
            for i, n in sorted(counted.items())
        ]
        return self._fact(COUNTED, counted, ref=ref, counts=counts)

    def ship(self, transfer_id: str, quantities: Mapping[str, int]) -> StockFact | None:
        """Stock leaves for another outlet: only units no order holds may go."""
        if transfer_id in self.booked:
            return None
        shortages = [
            Shortage(i, q, self.available(i) or 0)
            for i, q in sorted(quantities.items())
            if q > (self.available(i) or 0)
        ]
        if shortages:
            raise InsufficientStock(shortages)
        return self._fact(SHIPPED, quantities, ref=transfer_id, transfer_id=transfer_id)

    def reserve(self, order_id: str, needs: Mapping[str, int]) -> StockFact | None:
        """Hold every tracked unit the order needs, or none of them."""
        if order_id in self.reservations:
            return None
        held: dict[str, int] = {}
        shortages = []
        for ingredient_id, quantity in sorted(needs.items()):
            left = self.available(ingredient_id)
            if left is None:
                continue
            if quantity > left:
                shortages.append(Shortage(ingredient_id, quantity, left))
            held[ingredient_id] = quantity
        if shortages:
            raise InsufficientStock(shortages)
        return self._fact(RESERVED, held, order_id=order_id)

    def release(self, order_id: str) -> StockFact | None:
        return self._settle(order_id, "released", RELEASED)

    def commit(self, order_id: str) -> StockFact | None:
        return self._settle(order_id, "committed", COMMITTED)

    def _settle(self, order_id: str, to: ReservationStatus, type: str) -> StockFact | None:
        reservation = self.reservations.get(order_id)
        if reservation is None:
            raise ReservationNotFound(f"no stock reservation for order {order_id}")
        if reservation.status == to:
            return None
        if reservation.status != "reserved":
            raise ReservationClosed(order_id, reservation.status)
        return self._fact(type, reservation.held, order_id=order_id)

    def _require_on_hand(self, quantities: Mapping[str, int]) -> None:
        shortages = [
            Shortage(i, q, self.on_hand.get(i, 0))
            for i, q in sorted(quantities.items())
            if q > self.on_hand.get(i, 0)
        ]
        if shortages:
            raise InsufficientStock(shortages)

    # --- recording -----------------------------------------------------------------------

    def apply(self, type: str, data: Mapping[str, Any], at: datetime) -> OutletStock:
        lines = {str(x["ingredient_id"]): int(x["quantity"]) for x in data.get("lines", [])}
        if data.get("ref"):
            self.booked[str(data["ref"])] = at
        if type == RECEIVED:
            for i, q in lines.items():
                self.on_hand[i] = self.on_hand.get(i, 0) + q
        elif type in (WASTED, SHIPPED):
            for i, q in lines.items():
                self.on_hand[i] = max(0, self.on_hand.get(i, 0) - q)
        elif type == COUNTED:
            for i, q in lines.items():
                self.on_hand[i] = q
        elif type == RESERVED:
            order_id = str(data["order_id"])
            if order_id not in self.reservations:  # (decided once per order id)
                self.reservations[order_id] = Reservation(order_id, lines, "reserved", at)
                self._hold(lines, 1)
        elif type in (RELEASED, COMMITTED):
            reservation = self.reservations.get(str(data["order_id"]))
            if reservation is not None and reservation.status == "reserved":
                reservation.status = "released" if type == RELEASED else "committed"
                reservation.changed_at = at
                self._hold(reservation.held, -1)
                self.settled[reservation.order_id] = at
                if type == COMMITTED:
                    for i, q in reservation.held.items():
                        if i in self.on_hand:
                            self.on_hand[i] = max(0, self.on_hand[i] - q)
                # Settled, it holds nothing: only its order id, status and time are kept for
                # the week (a late repeat is recognised), so a busy outlet's snapshot stays
                # well inside one NATS message (see :meth:`as_record`).
                reservation.held = {}
        self._forget(at)
        return self

    def _forget(self, now: datetime) -> None:
        """Drop what settled or was booked before the memory window, from the oldest on,
        stopping at the first one still inside it (event times of one aggregate come in
        order, near enough: a slightly later one ahead only delays the rest)."""
        horizon = now - self.memory
        while self.settled:
            order_id, at = next(iter(self.settled.items()))
            if at >= horizon:
                break
            del self.settled[order_id]
            self.reservations.pop(order_id, None)
        while self.booked:
            ref, at = next(iter(self.booked.items()))
            if at >= horizon:
                break
            del self.booked[ref]

    # --- snapshots -----------------------------------------------------------------------

    def as_record(self) -> dict[str, Any]:
        """Open reservations in full; settled ones (the week's thousands at a busy outlet)
        as ``[order_id, status, unix seconds]``, so the snapshot stays one NATS message."""
        return {
            "outlet_id": self.outlet_id,
            "on_hand": self.on_hand,
            "reservations": [
                {
                    "order_id": r.order_id,
                    "held": r.held,
                    "status": r.status,
                    "changed_at": r.changed_at.isoformat(),
                }
                for r in self.reservations.values()
                if r.status == "reserved"
            ],
            "settled": [
                [order_id, self.reservations[order_id].status, int(at.timestamp())]
                for order_id, at in self.settled.items()
                if order_id in self.reservations
            ],
            "booked": {k: v.isoformat() for k, v in self.booked.items()},
        }

    @classmethod
    def from_record(cls, r: Mapping[str, Any], memory: timedelta) -> OutletStock:
        reservations = {
            str(x["order_id"]): Reservation(
                str(x["order_id"]),
                {str(k): int(v) for k, v in x.get("held", {}).items()},
                x["status"],
                datetime.fromisoformat(x["changed_at"]),
            )
            for x in r.get("reservations", [])
        }
        for order_id, status, at in r.get("settled", []):
            changed_at = datetime.fromtimestamp(int(at), UTC)
            reservations[str(order_id)] = Reservation(str(order_id), {}, status, changed_at)
        return cls(
            outlet_id=str(r["outlet_id"]),
            on_hand={str(k): int(v) for k, v in r.get("on_hand", {}).items()},
            reservations=reservations,
            booked={str(k): datetime.fromisoformat(v) for k, v in r.get("booked", {}).items()},
            memory=memory,
        )
