"""What the order's upstreams can refuse, as the saga understands it (no HTTP here).

The adapters (``adapters/upstreams.py``) translate the menu and customer services' error
replies into these once; the saga decides on them, never on status numbers.
"""

from __future__ import annotations

from typing import Any


class UpstreamRefusal(Exception):
    """Another service said no for good (a retry would get the same answer)."""

    def __init__(self, reason: str, details: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class StockUnavailable(UpstreamRefusal):
    """The outlet cannot reserve the order's items (sold out, unavailable, closed)."""

    @property
    def items(self) -> list[Any]:
        if isinstance(self.details, dict) and isinstance(self.details.get("items"), list):
            return list(self.details["items"])
        return []


class RedemptionRefused(UpstreamRefusal):
    """The customer's rewards cannot be redeemed for this order."""


class InsufficientPoints(RedemptionRefused):
    """The customer has fewer points than the rewards cost."""
