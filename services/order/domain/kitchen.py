"""The kitchen's view of an order: a ticket, shaped for the kitchen display (no I/O).

A ticket line says what to make and where: the station, the sugar and ice levels as
numbers (percent, ``None`` when the drink has no such choice) and the toppings by name.
``order.being_prepared`` (v1.1) carries the lines, so a display that hears the event live
needs nothing else; ``GET /outlets/{id}/kitchen`` serves whole tickets (:func:`ticket`), so a
display that loads after a reload shows the same.
"""

from __future__ import annotations

from typing import Any

from bobaku.services.order.domain.model import Order, Status

KITCHEN = frozenset({Status.BEING_PREPARED, Status.READY})


def ticket_line(line: dict[str, Any]) -> dict[str, Any]:
    """One priced order line (``order.created``'s ``lines``) as the kitchen reads it."""
    choices = line.get("customizations") or {}
    return {
        "menu_id": line["menu_id"],
        "name": line["name"],
        "quantity": line["quantity"],
        "station": line.get("station") or None,
        "sugar_level": choices.get("sugar_level"),
        "ice_level": choices.get("ice_level"),
        "toppings": [topping["name"] for topping in choices.get("toppings", [])],
    }


def ticket_lines(order: Order) -> list[dict[str, Any]]:
    return [ticket_line(line) for line in order.lines]


def _first(order: Order, status: Status) -> str | None:
    return next((h["timestamp"] for h in order.history if h["status"] == status), None)


def _last(order: Order, status: Status) -> str | None:
    return next((h["timestamp"] for h in reversed(order.history) if h["status"] == status), None)


def ticket(order: Order) -> dict[str, Any] | None:
    """The order's kitchen ticket while the kitchen has it (being prepared or ready).

    ``started_at`` is when the kitchen first got it (a recall does not restart the SLA
    clock); ``ready_at`` is the latest bump while it is ready.
    """
    if order.status not in KITCHEN:
        return None
    lines = ticket_lines(order)
    return {
        "order_id": order.id,
        "outlet_id": order.outlet_id,
        "status": str(order.status),
        "started_at": _first(order, Status.BEING_PREPARED),
        "ready_at": _last(order, Status.READY) if order.status == Status.READY else None,
        "estimated_completion": order.estimated_completion,
        "stations": sorted({line["station"] for line in lines if line["station"]}),
        "lines": lines,
    }
