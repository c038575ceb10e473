"""The order service's settings: the kernel's, typed, read once in ``__main__``."""

from __future__ import annotations

from typing import Literal

from bobaku.kernel.settings import Settings


class OrderSettings(Settings):
    """The kernel's fields (upstream URLs, ``SERVICE_TOKEN``, ``OUTLET_DIRECTORY_TTL_S``…)
    and the order service's own."""

    # Who holds an order's stock in the saga (ORDER_STOCK_SERVICE): supply (ingredients by
    # recipe), or none, only for the ordering benchmark's baseline (the saga without the
    # stock step: what that step costs per order).
    order_stock_service: Literal["supply", "none"] = "supply"


def order_settings(settings: Settings) -> OrderSettings:
    if isinstance(settings, OrderSettings):
        return settings
    return OrderSettings(**settings.model_dump(exclude_unset=False))
