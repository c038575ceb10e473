"""Order events as the order service writes them, with times of the test's choosing."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from bobaku.kernel.events import Event, new_event

# Apart for each test run: the streams keep earlier runs' orders, which a projection replays.
FR, OUTLET = f"fr-an{secrets.token_hex(3)}", "outlet-an"


def at(event: Event, when: datetime) -> Event:
    return event.model_copy(update={"timestamp": when})


def ev(order: str, kind: str, when: datetime, customer: str = "u-1", **data: Any) -> Event:
    base = {"order_id": order, "outlet_id": OUTLET, "customer_id": customer}
    return at(new_event(kind, {**base, **data}, source="order-service", tenant=FR), when)


def line(menu_id: str, qty: int, unit: int, toppings: list[str], sugar: int = 50) -> dict[str, Any]:
    return {
        "menu_id": menu_id,
        "name": f"Item {menu_id}",
        "unit_price": unit,
        "base_price": unit,
        "quantity": qty,
        "customizations": {"sugar_level": sugar, "ice_level": 30, "toppings": toppings},
        "subtotal": qty * unit,
        "station": "tea_bar",
    }


def created(
    order: str, when: datetime, lines: list[dict[str, Any]], customer: str = "u-1",
    method: str = "gopay", discount: int = 0,
) -> Event:  # fmt: skip
    subtotal = sum(x["subtotal"] for x in lines)
    return ev(
        order, "order.created", when, customer,
        user_id=customer, franchise_id=FR,
        items=[{"menu_id": x["menu_id"], "quantity": x["quantity"]} for x in lines],
        lines=lines, subtotal_amount=subtotal, discount_amount=discount,
        total_amount=subtotal - discount, payment_method=method, status="pending_payment",
    )  # fmt: skip


def paid(order: str, when: datetime, amount: int, customer: str = "u-1") -> Event:
    return ev(
        order, "order.payment_completed", when, customer,
        intent_id=f"pay-{order}", transaction_id=f"gpy-{order}", amount=amount,
        paid_at=when.isoformat(),
    )  # fmt: skip


def ready(order: str, when: datetime) -> Event:
    return ev(order, "order.ready", when, by="u-barista")


def completed(order: str, when: datetime) -> Event:
    return ev(order, "order.completed", when, by="u-barista")


def cancelled(order: str, when: datetime) -> Event:
    return ev(order, "order.cancelled", when, reason="changed my mind", by="u-1")


def refunded(order: str, when: datetime, amount: int, total: int, full: bool) -> Event:
    return ev(
        order, "order.refunded", when,
        refund_id=f"rf-{order}-{total}", amount=amount, total_refunded=total, full=full,
    )  # fmt: skip
