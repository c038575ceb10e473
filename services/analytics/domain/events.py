"""The facts analytics is fed from: the order aggregate's history and the loyalty ledger.

Both are event-sourced streams of the kernel's catalog (``kernel/streams.py``: ``ORDER``,
``LOYALTY``); analytics only reads them.
"""

from __future__ import annotations

# Order events that change a figure (kitchen steps included); others are ignored.
ORDER_EVENTS = frozenset(
    {
        "order.created",
        "order.rewards_redeemed",
        "order.payment_completed",
        "order.being_prepared",
        "order.ready",
        "order.completed",
        "order.cancelled",
        "order.refunded",
    }
)

# Every fact of a loyalty ledger starts so (a commit of any of them moves the ledger's
# position, ``adapters/store.py``).
LEDGER_PREFIX = "loyalty."

# Loyalty ledger facts and the counter each one moves (others, a tier change, move none).
LOYALTY_EVENTS = {
    "loyalty.points_earned": "issued",
    "loyalty.points_redeemed": "redeemed",
    "loyalty.points_reversed": "reversed",
    "loyalty.redemption_released": "released",
    # Points that lapsed unspent (the customer service's expiry job): they leave the
    # liability like a redemption, but no order carries them.
    "loyalty.points_expired": "expired",
}
