"""``GET /api/v1/orders/{id}``: the order as the app shows it, in the brief's exact shape.

The order service decides whether the caller may see the order (it gets the caller's own
token); the customer service adds the customer's name, tier and points.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from bobaku.kernel.client import ServiceClient
from bobaku.kernel.errors import BobakuError


def _percent(level: Any) -> str | None:
    return f"{level}%" if isinstance(level, int) else None


def order_document(order: dict[str, Any], customer: dict[str, Any] | None) -> dict[str, Any]:
    outlet = order.get("outlet") or {}
    payment = order["payment"]
    status = order["status"]
    return {
        "order": {
            "id": order["id"],
            "created_at": order["created_at"],
            "customer": {
                "id": order["customer_id"],
                "name": (customer or {}).get("name"),
                "membership_tier": (customer or {}).get("membership_tier"),
                "current_points": (customer or {}).get("current_points"),
            },
            "outlet": {
                "id": order["outlet_id"],
                "name": outlet.get("name"),
                "address": outlet.get("address"),
                "phone": outlet.get("phone"),
            },
            "items": [
                {
                    "name": item["name"],
                    "price": item["base_price"],
                    "quantity": item["quantity"],
                    "customizations": {
                        "sugar_level": _percent(item["customizations"].get("sugar_level")),
                        "ice_level": _percent(item["customizations"].get("ice_level")),
                        "toppings": [
                            {"name": t["name"], "price": t["price"]}
                            for t in item["customizations"].get("toppings", [])
                        ],
                    },
                    "subtotal": item["subtotal"],
                }
                for item in order["items"]
            ],
            "payment": {
                "method": payment["method"],
                "status": payment["status"],
                "transaction_id": payment["transaction_id"],
                "paid_at": payment["paid_at"],
            },
            "status": {
                "current": status["current"],
                "history": status["history"],
                "estimated_completion": status["estimated_completion"],
            },
            "loyalty": {
                "points_earned": order["loyalty"]["points_earned"],
                "applied_rewards": order["loyalty"]["applied_rewards"],
            },
        }
    }


async def compose_order(
    order_id: str, token: str, orders: ServiceClient, customers: ServiceClient
) -> dict[str, Any]:
    # The id as the client sent it, encoded again: a "?" or "#" in it stays part of the id.
    path = f"/orders/{quote(order_id, safe='')}"
    order: dict[str, Any] = await orders.request("GET", path, token=token)
    try:
        customer = await asyncio.wait_for(
            customers.request("GET", f"/internal/customers/{order['customer_id']}"), 2.0
        )
    except (BobakuError, TimeoutError):
        customer = None  # degrade: the order is still worth showing without the profile
    return order_document(order, customer)
