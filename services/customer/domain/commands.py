"""What callers ask of the customer service: one dataclass per command, each handled by the
function of the same name (snake case) in ``service_layer/handlers.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from bobaku.services.customer.domain.users import Language

# --- identity and profile -----------------------------------------------------------------


@dataclass(frozen=True)
class RegisterCustomer:
    email: str
    password: str
    name: str
    phone: str | None
    language: Language


@dataclass(frozen=True)
class LogIn:
    email: str
    password: str


@dataclass(frozen=True)
class RefreshSession:
    """Spend a refresh token for a new pair."""

    refresh_token: str


@dataclass(frozen=True)
class LogOut:
    refresh_token: str


@dataclass(frozen=True)
class UpdateProfile:
    """Fields left ``None`` keep their value; ``clear_phone`` removes the phone number."""

    user_id: str
    name: str | None = None
    phone: str | None = None
    clear_phone: bool = False
    language: Language | None = None
    notifications: dict[str, bool] | None = None


# --- loyalty ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EarnPoints:
    """A paid order earns its points (once per order)."""

    customer_id: str
    order_id: str
    amount: int
    franchise_id: str | None = None


@dataclass(frozen=True)
class ReversePoints:
    """A refund takes back its share of the order's points (once per refund)."""

    customer_id: str
    order_id: str
    refund_id: str
    amount: int
    full: bool


@dataclass(frozen=True)
class RedeemRewards:
    customer_id: str
    order_id: str
    reward_ids: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class ReleaseRedemption:
    customer_id: str
    order_id: str


@dataclass(frozen=True)
class ExpirePoints:
    """Apply the lapse of ``on`` (a UTC day) to the customer's ledger, once."""

    customer_id: str
    on: date
    valid_days: int
