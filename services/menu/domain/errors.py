"""The menu's own error codes, on the kernel's one hierarchy (status and envelope)."""

from __future__ import annotations

from bobaku.kernel.errors import Conflict, NotFound


class OutletNotFound(NotFound):
    code = "outlet_not_found"


class ItemNotFound(NotFound):
    code = "item_not_found"


class ItemExists(Conflict):
    code = "item_exists"


class OutletFranchiseFixed(Conflict):
    """An outlet never moves to another franchise: its orders and stock are filed under it."""

    code = "outlet_franchise_fixed"


class OutletClosed(Conflict):
    code = "outlet_closed"


class ItemUnavailable(Conflict):
    code = "item_unavailable"
