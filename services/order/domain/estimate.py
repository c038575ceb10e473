"""When an order should be ready: a documented, deliberately simple rule.

  4 minutes for the first drink
+ 1 minute for each further drink in the order
+ 90 seconds for each order already being prepared at the outlet
capped at 45 minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

FIRST_DRINK = timedelta(minutes=4)
EACH_MORE_DRINK = timedelta(minutes=1)
EACH_ORDER_AHEAD = timedelta(seconds=90)
CAP = timedelta(minutes=45)


def estimated_completion(paid_at: datetime, drinks: int, orders_ahead: int) -> datetime:
    wait = FIRST_DRINK + EACH_MORE_DRINK * max(drinks - 1, 0) + EACH_ORDER_AHEAD * orders_ahead
    return paid_at + min(wait, CAP)
