"""Identifiers of the payment world (docs/contracts.md, "Ids")."""

from __future__ import annotations

import re

from bobaku.kernel.ids import OUTLET_ID_PATTERN

ORDER_ID = r"^ord-[0-9]{8}-[0-9a-f]{8}$"
INTENT_ID = r"^pay-[0-9]{8}-[0-9a-f]{8}$"
OUTLET_ID = OUTLET_ID_PATTERN  # the kernel's rule, shared with menu, order and supply
CUSTOMER_ID = r"^u-[0-9a-f]{12}$"
FRANCHISE_ID = r"^[a-z0-9][a-z0-9-]{0,40}$"
DISPUTE_ID = r"^dsp-[0-9A-Za-z-]{1,40}$"


def intent_id_for(order_id: str) -> str:
    """An order has exactly one payment intent, so the intent id is derived from the order
    id (``ord-20261124-9f3a1c2b`` → ``pay-20261124-9f3a1c2b``): two racing requests for one
    order name the same aggregate, and the event store lets only one of them create it."""
    if not re.match(ORDER_ID, order_id):
        raise ValueError(f"not an order id: {order_id!r}")
    return "pay-" + order_id[len("ord-") :]
