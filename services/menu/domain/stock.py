"""An outlet's stock: counted items, and the units held for orders not yet made.

The ledger is the state of one event-sourced aggregate per outlet. Its decisions
(``restock``, ``reserve``, ``release``, ``commit``) return the facts to record, or nothing
when the request was already carried out (each order id is reserved, released and
committed at most once); :meth:`StockLedger.apply` folds a recorded fact into the state.
Nothing here does I/O; the service layer stores the facts with an expected-sequence append,
so two decisions taken on the same state cannot both be recorded.

Only counted items are limited: an item the outlet never counted (or stopped counting)
is unlimited, and a reservation holds units of counted items only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from bobaku.kernel.events.envelope import parse_utc

RESTOCKED = "stock.restocked"
RESERVED = "stock.reserved"
RELEASED = "stock.released"
COMMITTED = "stock.committed"

ReservationStatus = Literal["reserved", "released", "committed"]


@dataclass(frozen=True)
class StockFact:
    """Something that happened to the stock, to be recorded as an event of ``type``."""

    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Shortage:
    menu_id: str
    requested: int
    available: int

    def as_record(self) -> dict[str, Any]:
        return {"menu_id": self.menu_id, "requested": self.requested, "available": self.available}


class InsufficientStock(Exception):
    def __init__(self, shortages: list[Shortage]) -> None:
        super().__init__(", ".join(f"{s.menu_id}: {s.available} left" for s in shortages))
        self.shortages = shortages


class ReservationNotFound(Exception):
    pass


class ReservationClosed(Exception):
    """The reservation was already settled the other way (released vs committed)."""

    def __init__(self, order_id: str, status: ReservationStatus) -> None:
        super().__init__(f"the reservation of {order_id} is already {status}")
        self.order_id = order_id
        self.status = status


@dataclass
class Reservation:
    order_id: str
    held: dict[str, int]
    status: ReservationStatus
    changed_at: datetime

    def as_record(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "held": self.held,
            "status": self.status,
            "changed_at": self.changed_at.isoformat(),
        }

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Reservation:
        return cls(
            str(r["order_id"]),
            {str(k): int(v) for k, v in r["held"].items()},
            r["status"],
            parse_utc(str(r["changed_at"])),
        )


def _items(quantities: Mapping[str, int | None]) -> list[dict[str, Any]]:
    return [{"menu_id": k, "quantity": v} for k, v in sorted(quantities.items())]


@dataclass
class StockLedger:
    outlet_id: str
    # Units physically at the outlet per counted item (reserved units included).
    on_hand: dict[str, int] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    # Settled reservations are forgotten after this long (measured in event time), so the
    # state stays small; a repeat that late of the same order's call is not expected.
    memory: timedelta = timedelta(days=7)

    # --- reading -----------------------------------------------------------------------

    def reserved(self, menu_id: str) -> int:
        return sum(
            r.held.get(menu_id, 0) for r in self.reservations.values() if r.status == "reserved"
        )

    def available(self, menu_id: str) -> int | None:
        """Units that can still be promised; ``None`` for an item that is not counted."""
        if menu_id not in self.on_hand:
            return None
        return max(0, self.on_hand[menu_id] - self.reserved(menu_id))

    def levels(self) -> dict[str, int]:
        """Units left per counted item, as the menu shows them."""
        return {item: self.available(item) or 0 for item in sorted(self.on_hand)}

    def report(self) -> list[dict[str, int | str]]:
        return [
            {
                "menu_id": item,
                "on_hand": self.on_hand[item],
                "reserved": self.reserved(item),
                "available": self.available(item) or 0,
            }
            for item in sorted(self.on_hand)
        ]

    def reservation(self, order_id: str) -> Reservation | None:
        return self.reservations.get(order_id)

    # --- deciding ----------------------------------------------------------------------

    def restock(self, counts: Mapping[str, int | None]) -> StockFact:
        """Set the counts of the given items; ``None`` stops counting an item (unlimited)."""
        return StockFact(RESTOCKED, {"outlet_id": self.outlet_id, "items": _items(counts)})

    def reserve(self, order_id: str, wanted: Mapping[str, int]) -> StockFact | None:
        """Hold every counted unit the order needs, or none of them."""
        if order_id in self.reservations:
            return None
        shortages = []
        held: dict[str, int] = {}
        for menu_id, quantity in sorted(wanted.items()):
            left = self.available(menu_id)
            if left is None:
                continue
            if quantity > left:
                shortages.append(Shortage(menu_id, quantity, left))
            held[menu_id] = quantity
        if shortages:
            raise InsufficientStock(shortages)
        return StockFact(
            RESERVED, {"outlet_id": self.outlet_id, "order_id": order_id, "items": _items(held)}
        )

    def release(self, order_id: str) -> StockFact | None:
        """Give the order's units back (the order was cancelled or failed)."""
        return self._settle(order_id, "released", RELEASED)

    def commit(self, order_id: str) -> StockFact | None:
        """The order's units were used (the order was paid and is being made)."""
        return self._settle(order_id, "committed", COMMITTED)

    def _settle(self, order_id: str, to: ReservationStatus, fact: str) -> StockFact | None:
        reservation = self.reservations.get(order_id)
        if reservation is None:
            raise ReservationNotFound(f"no stock reservation for order {order_id}")
        if reservation.status == to:
            return None
        if reservation.status != "reserved":
            raise ReservationClosed(order_id, reservation.status)
        return StockFact(
            fact,
            {"outlet_id": self.outlet_id, "order_id": order_id, "items": _items(reservation.held)},
        )

    # --- recording ---------------------------------------------------------------------

    def apply(self, type: str, data: Mapping[str, Any], at: datetime) -> StockLedger:
        items = {str(i["menu_id"]): i["quantity"] for i in data.get("items", [])}
        if type == RESTOCKED:
            for menu_id, quantity in items.items():
                if quantity is None:
                    self.on_hand.pop(menu_id, None)
                else:
                    self.on_hand[menu_id] = int(quantity)
        elif type == RESERVED:
            order_id = str(data["order_id"])
            held = {k: int(v) for k, v in items.items()}
            self.reservations[order_id] = Reservation(order_id, held, "reserved", at)
        elif type in (RELEASED, COMMITTED):
            reservation = self.reservations.get(str(data["order_id"]))
            if reservation is not None and reservation.status == "reserved":
                reservation.status = "released" if type == RELEASED else "committed"
                reservation.changed_at = at
                if type == COMMITTED:
                    for menu_id, quantity in reservation.held.items():
                        if menu_id in self.on_hand:
                            self.on_hand[menu_id] = max(0, self.on_hand[menu_id] - quantity)
        self._forget_settled(at)
        return self

    def _forget_settled(self, now: datetime) -> None:
        horizon = now - self.memory
        stale = [
            order_id
            for order_id, r in self.reservations.items()
            if r.status != "reserved" and r.changed_at < horizon
        ]
        for order_id in stale:
            del self.reservations[order_id]

    # --- snapshots ---------------------------------------------------------------------

    def as_record(self) -> dict[str, Any]:
        return {
            "outlet_id": self.outlet_id,
            "on_hand": self.on_hand,
            "reservations": [r.as_record() for r in self.reservations.values()],
        }

    @classmethod
    def from_record(
        cls, r: Mapping[str, Any], memory: timedelta = timedelta(days=7)
    ) -> StockLedger:
        reservations = [Reservation.from_record(x) for x in r.get("reservations", [])]
        return cls(
            outlet_id=str(r["outlet_id"]),
            on_hand={str(k): int(v) for k, v in r.get("on_hand", {}).items()},
            reservations={x.order_id: x for x in reservations},
            memory=memory,
        )
