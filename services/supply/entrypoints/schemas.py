"""Request bodies of the supply API. Strict types, unknown fields refused, quantities
positive: a bad field is a 422 naming it, before anything is written."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from bobaku.kernel.ids import OUTLET_ID_PATTERN
from bobaku.kernel.text import display_text
from bobaku.kernel.web import RequestBody
from bobaku.services.supply.domain.ledger import WASTE_REASONS
from bobaku.services.supply.domain.recipes import Unit

ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")
Id = Annotated[str, StringConstraints(pattern=ID.pattern)]
# A name staff read: no control, format or invisible characters (kernel/text.py).
Name = Annotated[str, StringConstraints(min_length=1, max_length=80), AfterValidator(display_text)]
Quantity = Annotated[int, Field(gt=0, le=10_000_000)]
Count = Annotated[int, Field(ge=0, le=10_000_000)]
Level = Literal[0, 25, 30, 50, 75, 100]
WasteReason = Literal[WASTE_REASONS]  # type: ignore[valid-type]


class IngredientBody(RequestBody):
    name: Name
    unit: Unit
    pack_size: Quantity
    unit_cost: Count
    supplier_id: Id | None = None
    shelf_life_days: Annotated[int, Field(gt=0, le=3650)] | None = None


class SupplierBody(RequestBody):
    name: Name
    phone: Annotated[str, StringConstraints(max_length=30)] | None = None
    email: Annotated[str, StringConstraints(max_length=120)] | None = None
    lead_time_days: Annotated[int, Field(ge=0, le=90)] = 2


class RecipeLineBody(RequestBody):
    ingredient_id: Id
    quantity: Quantity
    scales_with: Literal["sugar", "ice"] | None = None


class RecipeBody(RequestBody):
    lines: Annotated[list[RecipeLineBody], Field(min_length=1, max_length=40)]


class OverrideBody(RequestBody):
    supplier_id: Id | None = None
    unit_cost: Count | None = None


class Line(RequestBody):
    ingredient_id: Id
    quantity: Quantity


class Lines(RequestBody):
    lines: Annotated[list[Line], Field(min_length=1, max_length=100)]


class ReceiptBody(Lines):
    ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,60}$")] | None = None


class WasteBody(Lines):
    reason: WasteReason
    note: Annotated[str, StringConstraints(max_length=200)] | None = None
    ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,60}$")] | None = None


class CountLine(RequestBody):
    ingredient_id: Id
    counted: Count


class StockTakeBody(RequestBody):
    lines: Annotated[list[CountLine], Field(min_length=1, max_length=200)]
    ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,60}$")] | None = None


class ParLevelBody(RequestBody):
    par: Quantity
    reorder_at: Count


class ParLevelsBody(RequestBody):
    levels: dict[Id, ParLevelBody]


class PoLine(RequestBody):
    ingredient_id: Id
    packs: Quantity
    unit_price: Count | None = None


class PurchaseOrderBody(RequestBody):
    supplier_id: Id
    expected_delivery: date
    lines: Annotated[list[PoLine], Field(min_length=1, max_length=100)]


class PackLine(RequestBody):
    ingredient_id: Id
    packs: Quantity


class PoReceiptBody(RequestBody):
    lines: Annotated[list[PackLine], Field(min_length=1, max_length=100)]


class CancelBody(RequestBody):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class TransferBody(Lines):
    to_outlet_id: Annotated[str, StringConstraints(pattern=OUTLET_ID_PATTERN)]


class TransferReceiptBody(RequestBody):
    lines: Annotated[list[CountLine], Field(min_length=0, max_length=100)]


class Customizations(RequestBody):
    sugar_level: Level | None = None
    ice_level: Level | None = None
    toppings: Annotated[list[Id], Field(max_length=10)] = []
    size: Id | None = None


class ReservationItem(RequestBody):
    menu_id: Id
    quantity: Annotated[int, Field(gt=0, le=100)]
    customizations: Customizations | None = None


class ReservationBody(RequestBody):
    order_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    outlet_id: Annotated[str, StringConstraints(pattern=OUTLET_ID_PATTERN)]
    items: Annotated[list[ReservationItem], Field(min_length=1, max_length=50)]
