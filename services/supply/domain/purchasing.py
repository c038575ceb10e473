"""Purchase orders, transfers between outlets, and reorder suggestions from par levels.

A purchase order and a transfer are each an event-sourced aggregate of their own:

    purchase order: draft → submitted → partially_received → received, or → cancelled
    transfer:       requested → shipped (stock leaves) → received (stock arrives; what did
                    not arrive is recorded as the loss), or requested → cancelled

Decisions return the events to record and raise :class:`InvalidTransition` for a step the
current status does not allow. Stock moves are booked on the outlets' ledgers with the
receipt or transfer id as reference, so a step repeated after a crash books nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bobaku.services.supply.domain.recipes import Ingredient

PO_DRAFTED = "supply.po_drafted"
PO_SUBMITTED = "supply.po_submitted"
PO_RECEIVED = "supply.po_received"
PO_CANCELLED = "supply.po_cancelled"
TRANSFER_REQUESTED = "supply.transfer_requested"
TRANSFER_SHIPPED = "supply.transfer_shipped"
TRANSFER_RECEIVED = "supply.transfer_received"
TRANSFER_CANCELLED = "supply.transfer_cancelled"


class InvalidTransition(Exception):
    def __init__(self, what: str, status: str, action: str) -> None:
        super().__init__(f"a {what} that is {status} cannot be {action}")
        self.status = status
        self.action = action


class OverReceipt(Exception):
    """More would be received than was ordered (or shipped)."""

    def __init__(self, problems: list[tuple[str, int, int]]) -> None:
        super().__init__("; ".join(f"{i}: {q} > {left} outstanding" for i, q, left in problems))
        self.problems = problems


Fact = tuple[str, dict[str, Any]]


def _lines(q: Mapping[str, int]) -> list[dict[str, Any]]:
    return [{"ingredient_id": k, "quantity": v} for k, v in sorted(q.items())]


@dataclass
class PurchaseOrder:
    id: str
    exists: bool = False
    outlet_id: str = ""
    supplier_id: str = ""
    expected_delivery: str = ""
    status: str = "none"
    ordered: dict[str, int] = field(default_factory=dict)
    unit_prices: dict[str, int] = field(default_factory=dict)
    pack_sizes: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    receipts: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def outstanding(self) -> dict[str, int]:
        return {i: q - self.received.get(i, 0) for i, q in self.ordered.items()}

    def draft(
        self,
        outlet_id: str,
        supplier_id: str,
        expected_delivery: str,
        lines: Sequence[tuple[str, int, int, int]],
    ) -> Fact:
        """``lines``: (ingredient id, packs, price per pack, units per pack)."""
        if self.exists:
            raise InvalidTransition("purchase order", self.status, "drafted again")
        return PO_DRAFTED, {
            "po_id": self.id,
            "outlet_id": outlet_id,
            "supplier_id": supplier_id,
            "expected_delivery": expected_delivery,
            "lines": [
                {"ingredient_id": i, "packs": q, "unit_price": p, "pack_size": n}
                for i, q, p, n in lines
            ],
        }

    def submit(self) -> Fact | None:
        if self.status == "submitted":
            return None
        if self.status != "draft":
            raise InvalidTransition("purchase order", self.status, "submitted")
        return PO_SUBMITTED, {"po_id": self.id, "outlet_id": self.outlet_id}

    def next_receipt_id(self) -> str:
        return f"{self.id}-r{self.receipts + 1}"

    def receive(self, quantities: Mapping[str, int]) -> Fact:
        """``quantities``: packs that arrived, per ingredient."""
        if self.status not in ("submitted", "partially_received"):
            raise InvalidTransition("purchase order", self.status, "received")
        left = self.outstanding()
        problems = [
            (i, q, left.get(i, 0)) for i, q in sorted(quantities.items()) if q > left.get(i, 0)
        ]
        if problems:
            raise OverReceipt(problems)
        after = {i: left[i] - quantities.get(i, 0) for i in left}
        status = "received" if all(v == 0 for v in after.values()) else "partially_received"
        return PO_RECEIVED, {
            "po_id": self.id,
            "outlet_id": self.outlet_id,
            "receipt_id": self.next_receipt_id(),
            "lines": [
                {"ingredient_id": i, "packs": q, "quantity": q * self.pack_sizes.get(i, 1)}
                for i, q in sorted(quantities.items())
            ],
            "status": status,
        }

    def cancel(self, reason: str) -> Fact | None:
        if self.status == "cancelled":
            return None
        if self.status not in ("draft", "submitted"):
            raise InvalidTransition("purchase order", self.status, "cancelled")
        return PO_CANCELLED, {"po_id": self.id, "outlet_id": self.outlet_id, "reason": reason}

    def apply(self, type: str, data: Mapping[str, Any], at: str) -> PurchaseOrder:
        if type == PO_DRAFTED:
            self.exists = True
            self.status = "draft"
            self.outlet_id = data["outlet_id"]
            self.supplier_id = data["supplier_id"]
            self.expected_delivery = data["expected_delivery"]
            for line in data["lines"]:
                self.ordered[line["ingredient_id"]] = int(line["packs"])
                self.unit_prices[line["ingredient_id"]] = int(line["unit_price"])
                self.pack_sizes[line["ingredient_id"]] = int(line["pack_size"])
        elif type == PO_SUBMITTED:
            self.status = "submitted"
        elif type == PO_RECEIVED:
            self.receipts += 1
            for line in data["lines"]:
                i = line["ingredient_id"]
                self.received[i] = self.received.get(i, 0) + int(line["packs"])
            self.status = data["status"]
        elif type == PO_CANCELLED:
            self.status = "cancelled"
        self.history.append({"status": self.status, "event": type, "at": at})
        return self

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "outlet_id": self.outlet_id,
            "supplier_id": self.supplier_id,
            "expected_delivery": self.expected_delivery,
            "status": self.status,
            "lines": [
                {
                    "ingredient_id": i,
                    "packs": q,
                    "pack_size": self.pack_sizes.get(i, 1),
                    "unit_price": self.unit_prices.get(i, 0),
                    "received_packs": self.received.get(i, 0),
                }
                for i, q in sorted(self.ordered.items())
            ],
            "total_amount": sum(q * self.unit_prices.get(i, 0) for i, q in self.ordered.items()),
            "receipts": self.receipts,
            "history": self.history,
        }


@dataclass
class Transfer:
    id: str
    exists: bool = False
    from_outlet_id: str = ""
    to_outlet_id: str = ""
    status: str = "none"
    requested: dict[str, int] = field(default_factory=dict)
    shipped: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    loss: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def request(self, from_outlet: str, to_outlet: str, quantities: Mapping[str, int]) -> Fact:
        if self.exists:
            raise InvalidTransition("transfer", self.status, "requested again")
        return TRANSFER_REQUESTED, {
            "transfer_id": self.id,
            "from_outlet_id": from_outlet,
            "to_outlet_id": to_outlet,
            "lines": _lines(quantities),
        }

    def ship(self) -> Fact | None:
        if self.status in ("shipped", "received"):
            return None
        if self.status != "requested":
            raise InvalidTransition("transfer", self.status, "shipped")
        return TRANSFER_SHIPPED, {
            "transfer_id": self.id,
            "from_outlet_id": self.from_outlet_id,
            "to_outlet_id": self.to_outlet_id,
            "lines": _lines(self.requested),
        }

    def receive(self, quantities: Mapping[str, int]) -> Fact | None:
        if self.status == "received":
            return None
        if self.status != "shipped":
            raise InvalidTransition("transfer", self.status, "received")
        problems = [
            (i, q, self.shipped.get(i, 0))
            for i, q in sorted(quantities.items())
            if q > self.shipped.get(i, 0)
        ]
        if problems:
            raise OverReceipt(problems)
        got = {i: quantities.get(i, 0) for i in self.shipped}
        loss = {i: self.shipped[i] - got[i] for i in self.shipped if self.shipped[i] > got[i]}
        return TRANSFER_RECEIVED, {
            "transfer_id": self.id,
            "from_outlet_id": self.from_outlet_id,
            "to_outlet_id": self.to_outlet_id,
            "lines": _lines({i: q for i, q in got.items() if q > 0}),
            "loss": _lines(loss),
        }

    def cancel(self, reason: str) -> Fact | None:
        if self.status == "cancelled":
            return None
        if self.status != "requested":
            raise InvalidTransition("transfer", self.status, "cancelled")
        return TRANSFER_CANCELLED, {
            "transfer_id": self.id,
            "from_outlet_id": self.from_outlet_id,
            "to_outlet_id": self.to_outlet_id,
            "reason": reason,
        }

    def apply(self, type: str, data: Mapping[str, Any], at: str) -> Transfer:
        lines = {x["ingredient_id"]: int(x["quantity"]) for x in data.get("lines", [])}
        if type == TRANSFER_REQUESTED:
            self.exists = True
            self.status = "requested"
            self.from_outlet_id = data["from_outlet_id"]
            self.to_outlet_id = data["to_outlet_id"]
            self.requested = lines
        elif type == TRANSFER_SHIPPED:
            self.status = "shipped"
            self.shipped = lines
        elif type == TRANSFER_RECEIVED:
            self.status = "received"
            self.received = lines
            self.loss = {x["ingredient_id"]: int(x["quantity"]) for x in data.get("loss", [])}
        elif type == TRANSFER_CANCELLED:
            self.status = "cancelled"
        self.history.append({"status": self.status, "event": type, "at": at})
        return self

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from_outlet_id": self.from_outlet_id,
            "to_outlet_id": self.to_outlet_id,
            "status": self.status,
            "requested": _lines(self.requested),
            "shipped": _lines(self.shipped),
            "received": _lines(self.received),
            "loss": _lines(self.loss),
            "history": self.history,
        }


@dataclass(frozen=True)
class ParLevel:
    """Reorder when available units fall below ``reorder_at``; order back up to ``par``."""

    par: int
    reorder_at: int


def suggest(
    par_levels: Mapping[str, ParLevel],
    available: Mapping[str, int | None],
    ingredients: Mapping[str, Ingredient],
    demand: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:
    """A draft purchase order per supplier, in whole packs.

    ``demand`` is what each ingredient is expected to be used for until a delivery ordered
    now arrives (the forecast over the supplier's lead time); without it, nothing. What will
    be left then, ``available - demand``, is compared with the reorder point: below it, the
    ingredient is ordered up to ``par + demand - available``, so that par is on the shelf
    when the delivery comes. With no demand this is the par-level rule: below ``reorder_at``,
    top up to ``par``."""
    demand = demand or {}
    by_supplier: dict[str, list[dict[str, Any]]] = {}
    for ingredient_id, level in sorted(par_levels.items()):
        ingredient = ingredients.get(ingredient_id)
        if ingredient is None:
            continue
        left = available.get(ingredient_id) or 0
        expected_use = demand.get(ingredient_id, 0)
        projected = left - expected_use
        if projected >= level.reorder_at:
            continue
        short = level.par - projected
        packs = -(-short // ingredient.pack_size)
        by_supplier.setdefault(ingredient.supplier_id or "unassigned", []).append(
            {
                "ingredient_id": ingredient_id,
                "available": left,
                "forecast_use": expected_use,
                "par": level.par,
                "reorder_at": level.reorder_at,
                "packs": packs,
                "quantity": packs * ingredient.pack_size,
                "unit_price": ingredient.unit_cost,
                "amount": packs * ingredient.unit_cost,
            }
        )
    return [
        {
            "supplier_id": supplier,
            "lines": lines,
            "total_amount": sum(x["amount"] for x in lines),
        }
        for supplier, lines in sorted(by_supplier.items())
    ]
