"""Request bodies (strict, unknown fields refused) and the documented response shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from bobaku.kernel.text import display_text
from bobaku.kernel.web import RequestBody
from bobaku.services.customer.domain.users import Language, is_valid_email

PHONE = r"^\+?[0-9][0-9 -]{5,19}$"
# Ids that end up in subjects and keys: no dots, wildcards or spaces.
PLAIN_ID = r"^[A-Za-z0-9_-]{1,64}$"


def _not_null(value: Any) -> Any:
    # Runs only for fields present in the body: leaving a field out keeps its value, but an
    # explicit null is a mistake worth naming.
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


def _clean_name(value: str) -> str:
    return display_text(value)


# --- requests ------------------------------------------------------------------------------


class RegisterCustomer(RequestBody):
    email: str = Field(max_length=254, examples=["rina@example.com"])
    password: str = Field(min_length=8, max_length=128)
    name: str = Field(min_length=1, max_length=80, examples=["Rina Wijaya"])
    phone: str | None = Field(default=None, pattern=PHONE, examples=["+62 812-3456-7890"])
    language: Language

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if not is_valid_email(value):
            raise ValueError("not a valid email address")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _clean_name(value)


class LogIn(RequestBody):
    # No format check: a login never says more than "email or password is wrong".
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class RefreshTokenBody(RequestBody):
    refresh_token: str = Field(min_length=1, max_length=256)


class NotificationsPatch(RequestBody):
    push: bool | None = None
    email: bool | None = None
    in_app: bool | None = None

    _present = field_validator("push", "email", "in_app", mode="before")(_not_null)


class PreferencesPatch(RequestBody):
    language: Language | None = None
    notifications: NotificationsPatch | None = None

    _present = field_validator("language", "notifications", mode="before")(_not_null)


class UpdateProfile(RequestBody):
    """Fields left out keep their value; ``phone: null`` removes the phone number."""

    name: str | None = Field(default=None, min_length=1, max_length=80)
    phone: str | None = Field(default=None, pattern=PHONE)
    preferences: PreferencesPatch | None = None

    _present = field_validator("name", "preferences", mode="before")(_not_null)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _clean_name(value)


class RedeemRewards(RequestBody):
    order_id: str = Field(pattern=PLAIN_ID, examples=["ord-20261124-9f3a1c2b"])
    reward_ids: list[str] = Field(min_length=1, max_length=10, examples=[["rw-free-topping"]])


# --- responses (documentation; handlers build the same shapes) ------------------------------


class Notifications(BaseModel):
    push: bool
    email: bool
    in_app: bool


class Preferences(BaseModel):
    language: Language
    notifications: Notifications


class UserView(BaseModel):
    id: str
    email: str
    name: str
    phone: str | None
    roles: list[str]
    franchise_id: str | None
    outlet_ids: list[str]
    preferences: Preferences
    created_at: str


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="seconds until the access token expires")


class AuthResult(BaseModel):
    user: UserView
    tokens: Tokens


class LogoutResult(BaseModel):
    revoked: bool


class HistoryItem(BaseModel):
    id: str
    kind: str = Field(
        description="points_earned, points_redeemed, redemption_released, points_reversed "
        "or tier_changed"
    )
    order_id: str | None
    points: int
    balance_change: int
    tier: str | None
    reward_ids: list[str]
    at: str


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_cursor: str | None


class PointsLapse(BaseModel):
    points: int = Field(description="points of the balance that lapse then, unless spent first")
    expires_at: str = Field(description="when they stop being valid (UTC, ISO-8601)")


class LoyaltySummary(BaseModel):
    points: int
    tier: str
    rolling_12m_points: int
    next_tier: str | None
    points_to_next_tier: int
    next_expiry: PointsLapse | None
    expiring_points: list[PointsLapse] = Field(
        description="the balance by when it lapses, soonest first (spending uses the oldest)"
    )
    history: HistoryPage


class RewardView(BaseModel):
    id: str
    name: str
    points_cost: int
    discount_amount: int


class RewardList(BaseModel):
    items: list[RewardView]
    next_cursor: str | None


class CustomerCard(BaseModel):
    id: str
    name: str
    email: str
    membership_tier: str
    current_points: int
    language: Language
    notifications: Notifications


class RedeemedReward(BaseModel):
    id: str
    name: str
    discount_amount: int


class RedemptionResult(BaseModel):
    order_id: str
    points: int
    discount_amount: int
    rewards: list[RedeemedReward]


class ReleaseResult(BaseModel):
    order_id: str
    points: int
    status: str
