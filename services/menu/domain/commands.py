"""What callers ask the menu service to do, in the business's words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bobaku.services.menu.domain.menu import OrderLine
from bobaku.services.menu.domain.model import MenuItem, Outlet, WeeklyHours


@dataclass(frozen=True)
class AddItem:
    item: MenuItem


@dataclass(frozen=True)
class ChangeItem:
    item_id: str
    # Field name → new value, for the fields the caller sent.
    changes: Mapping[str, Any]


@dataclass(frozen=True)
class SetFranchisePrice:
    franchise_id: str
    item_id: str
    price: int


@dataclass(frozen=True)
class RemoveFranchisePrice:
    franchise_id: str
    item_id: str


@dataclass(frozen=True)
class SetOutletAvailability:
    outlet_id: str
    items: Mapping[str, bool]


@dataclass(frozen=True)
class SetOpeningHours:
    outlet_id: str
    hours: WeeklyHours
    timezone: str | None = None


@dataclass(frozen=True)
class RegisterOutlet:
    outlet: Outlet


@dataclass(frozen=True)
class RetireOutlet:
    outlet_id: str


@dataclass(frozen=True)
class QuoteOrder:
    outlet_id: str
    lines: tuple[OrderLine, ...]
