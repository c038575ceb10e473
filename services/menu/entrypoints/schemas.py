"""The shapes of the menu's HTTP bodies: requests (strict, unknown fields refused) and
responses (each handler's answer is passed through its model, so ``/openapi.json``
documents exactly what is sent)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StrictBool,
    StringConstraints,
    model_validator,
)

from bobaku.kernel.ids import OUTLET_ID
from bobaku.kernel.web import RequestBody
from bobaku.services.menu.domain.menu import (
    MAX_QUANTITY_PER_LINE,
    MAX_TOPPINGS_PER_DRINK,
    OrderLine,
)
from bobaku.services.menu.domain.model import (
    CATEGORY_ID,
    DEFAULT_ICE_LEVELS,
    DEFAULT_SUGAR_LEVELS,
    FRANCHISE_ID,
    ITEM_ID,
    TOPPING_ID,
)

ItemId = Annotated[str, StringConstraints(pattern=ITEM_ID.pattern)]
ToppingId = Annotated[str, StringConstraints(pattern=TOPPING_ID.pattern)]
CategoryId = Annotated[str, StringConstraints(pattern=CATEGORY_ID.pattern)]
OutletId = Annotated[str, StringConstraints(pattern=OUTLET_ID.pattern)]
FranchiseId = Annotated[str, StringConstraints(pattern=FRANCHISE_ID.pattern)]
OrderId = Annotated[str, StringConstraints(pattern=r"^ord-[A-Za-z0-9-]{1,64}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Text = Annotated[str, StringConstraints(max_length=500)]
# Rupiah. Nothing on the menu costs more than ten million.
Price = Annotated[int, Field(ge=1, le=10_000_000)]
Level = Annotated[int, Field(ge=0, le=100)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY_PER_LINE)]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")]
Station = Literal["tea_bar", "toppings", "blender"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


# --- requests -----------------------------------------------------------------------------


class SeasonBody(RequestBody):
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> SeasonBody:
        if self.ends_at <= self.starts_at:
            raise ValueError("a season must end after it starts")
        return self


class NewItem(RequestBody):
    id: ItemId
    name: Name
    category_id: CategoryId
    base_price: Price
    station: Station = "tea_bar"
    prep_seconds: Annotated[int, Field(ge=10, le=1800)] = 120
    description: Text = ""
    sugar_levels: Annotated[list[Level], Field(min_length=1, max_length=11)] = list(
        DEFAULT_SUGAR_LEVELS
    )
    ice_levels: Annotated[list[Level], Field(min_length=1, max_length=11)] = list(
        DEFAULT_ICE_LEVELS
    )
    topping_ids: Annotated[list[ToppingId], Field(max_length=20)] = []
    season: SeasonBody | None = None
    active: bool = True


class ItemChanges(RequestBody):
    """Only the fields sent change; ``season: null`` makes the item a year-round one."""

    name: Name | None = None
    category_id: CategoryId | None = None
    base_price: Price | None = None
    station: Station | None = None
    prep_seconds: Annotated[int, Field(ge=10, le=1800)] | None = None
    description: Text | None = None
    sugar_levels: Annotated[list[Level], Field(min_length=1, max_length=11)] | None = None
    ice_levels: Annotated[list[Level], Field(min_length=1, max_length=11)] | None = None
    topping_ids: Annotated[list[ToppingId], Field(max_length=20)] | None = None
    season: SeasonBody | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _something_and_no_nulls(self) -> ItemChanges:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        nulls = [f for f in self.model_fields_set if f != "season" and getattr(self, f) is None]
        if nulls:
            raise ValueError(f"{', '.join(sorted(nulls))} may not be null")
        return self


class PriceBody(RequestBody):
    price: Price


class AvailabilityBody(RootModel[dict[ItemId, StrictBool]]):
    """``{"m001": false, "m002": true}``: whether each item is sold at the outlet."""

    model_config = ConfigDict(strict=True, frozen=True)
    root: Annotated[dict[ItemId, StrictBool], Field(min_length=1, max_length=200)]


class ShiftBody(RequestBody):
    open: ClockTime
    close: ClockTime


class HoursBody(RequestBody):
    """Periods per weekday; a day left out is closed. ``close`` at or before ``open`` runs
    past midnight."""

    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    opening_hours: dict[Weekday, Annotated[list[ShiftBody], Field(max_length=4)]]


class OutletRegistration(RequestBody):
    franchise_id: FranchiseId
    name: Name
    address: Text = ""
    phone: Annotated[str, StringConstraints(max_length=32)] = ""
    city: Annotated[str, StringConstraints(max_length=64)] = ""
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    opening_hours: dict[Weekday, Annotated[list[ShiftBody], Field(max_length=4)]] | None = None
    stations: Annotated[list[Station], Field(min_length=1, max_length=3)] | None = None


class CustomizationsBody(RequestBody):
    """Levels left out take the item's default (normal: 100)."""

    sugar_level: Level | None = None
    ice_level: Level | None = None
    toppings: Annotated[list[ToppingId], Field(max_length=MAX_TOPPINGS_PER_DRINK)] = []


class QuoteLineBody(RequestBody):
    menu_id: ItemId
    quantity: Quantity
    customizations: CustomizationsBody = CustomizationsBody()


class QuoteBody(RequestBody):
    outlet_id: OutletId
    items: Annotated[list[QuoteLineBody], Field(min_length=1, max_length=50)]

    def lines(self) -> tuple[OrderLine, ...]:
        """The order lines to price (also the order service's local copy's input)."""
        return tuple(
            OrderLine(
                menu_id=line.menu_id,
                quantity=line.quantity,
                sugar_level=line.customizations.sugar_level,
                ice_level=line.customizations.ice_level,
                toppings=tuple(line.customizations.toppings),
            )
            for line in self.items
        )


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToppingOut(Out):
    id: str
    name: str
    price: int


class ToppingPage(Out):
    items: list[ToppingOut]
    next_cursor: str | None


class ShiftOut(Out):
    open: str
    close: str


class OutletOut(Out):
    id: str
    franchise_id: str
    name: str
    address: str
    phone: str
    city: str
    timezone: str
    opening_hours: dict[str, list[ShiftOut]]
    stations: list[str]
    open_now: bool


class OutletPage(Out):
    items: list[OutletOut]
    next_cursor: str | None


class SeasonOut(Out):
    starts_at: str
    ends_at: str


class OptionsOut(Out):
    sugar_levels: list[int]
    ice_levels: list[int]
    toppings: list[ToppingOut]


class MenuItemOut(Out):
    id: str
    name: str
    description: str
    category_id: str
    price: int
    available: bool
    unavailable_reason: Literal["out_of_season", "unavailable_at_outlet", "sold_out"] | None
    station: str
    prep_seconds: int
    options: OptionsOut
    seasonal: bool
    season: SeasonOut | None


class MenuCategoryOut(Out):
    id: str
    name: str
    items: list[MenuItemOut]


class MenuOutletOut(Out):
    id: str
    franchise_id: str
    name: str
    open_now: bool


class MenuOut(Out):
    outlet: MenuOutletOut
    open_now: bool
    as_of: str
    categories: list[MenuCategoryOut]


class CatalogItemOut(Out):
    id: str
    name: str
    category_id: str
    base_price: int
    station: str
    prep_seconds: int
    description: str
    sugar_levels: list[int]
    ice_levels: list[int]
    topping_ids: list[str]
    season: SeasonOut | None
    active: bool
    seasonal: bool
    toppings: list[ToppingOut] | None = None


class PriceOut(Out):
    franchise_id: str
    item_id: str
    name: str
    base_price: int
    override: int | None
    price: int


class PriceListEntry(Out):
    franchise_id: str
    item_id: str
    name: str | None
    price: int
    base_price: int | None


class PriceList(Out):
    items: list[PriceListEntry]
    next_cursor: str | None


class AvailabilityOut(Out):
    outlet_id: str
    unavailable: list[str]


class QuoteOutletOut(Out):
    id: str
    franchise_id: str
    name: str
    address: str
    phone: str


class QuoteCustomizationsOut(Out):
    sugar_level: int
    ice_level: int
    toppings: list[ToppingOut]


class QuoteLineOut(Out):
    menu_id: str
    name: str
    unit_price: int
    base_price: int
    quantity: int
    customizations: QuoteCustomizationsOut
    subtotal: int
    station: str
    prep_seconds: int


class QuoteOut(Out):
    outlet: QuoteOutletOut
    lines: list[QuoteLineOut]
    total: int


def shaped(model: type[Out], data: Any) -> Any:
    """``data`` as ``model`` documents it (a handler that drifts fails loudly in tests)."""
    return model.model_validate(data).model_dump(mode="json")
