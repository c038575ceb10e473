"""The supply service's HTTP routes: who may call (role, then franchise/outlet, in the
handlers), the body read strictly, the answer in the envelope."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bobaku.kernel.auth import Role
from bobaku.kernel.errors import FranchiseNotFound, NotFound, ValidationFailed
from bobaku.kernel.openapi import Api
from bobaku.kernel.pagination import PAGE_QUERY, PageRequest, as_int, bad_query, page_request
from bobaku.kernel.web import DATABASES, ok, principal, read_json
from bobaku.services.supply.domain.purchasing import ParLevel
from bobaku.services.supply.domain.recipes import Ingredient, Recipe, RecipeLine
from bobaku.services.supply.entrypoints import schemas as s
from bobaku.services.supply.service_layer import handlers as h
from bobaku.services.supply.service_layer.handlers import STAFF, SupplyContext

CONTEXT = web.AppKey("supply_context", SupplyContext)

api = Api(
    "supply",
    "BobaKu supply: ingredients, recipes, outlet stock (receipts, waste, stock takes, "
    "reservations by recipe), par levels, purchase orders and transfers.",
)


def supply_of(request: web.Request) -> SupplyContext:
    return request.app[CONTEXT]


def _m(request: web.Request, name: str) -> str:
    return request.match_info[name]


def _new_id(request: web.Request, name: str) -> str:
    """The id a PUT names for what it defines: an id as the bodies' (``schemas.ID``), or a
    422 naming the path parameter (control characters, spaces, any other script)."""
    value = request.match_info[name]
    if not s.ID.fullmatch(value):
        raise ValidationFailed(
            "the id in the path is invalid",
            details={"fields": [{"field": name, "problem": "not an id", "type": "path"}]},
        )
    return value


def _recipe_lines(body: s.RecipeBody) -> list[RecipeLine]:
    return [RecipeLine(x.ingredient_id, x.quantity, x.scales_with) for x in body.lines]


# --- HQ catalog ------------------------------------------------------------------------


@api.put(
    "/ingredients/{ingredient_id}",
    body=s.IngredientBody,
    summary="Define an ingredient (hq_admin)",
    errors=(422,),
    upsert=True,
)
async def put_ingredient(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.IngredientBody)
    ingredient = Ingredient(
        _new_id(request, "ingredient_id"),
        body.name,
        body.unit,
        body.pack_size,
        body.unit_cost,
        body.supplier_id,
        body.shelf_life_days,
    )
    created = await h.put_ingredient(supply_of(request), who, ingredient)
    return ok(ingredient.as_record(), status=201 if created else 200)


@api.get("/ingredients", summary="HQ's ingredients (staff and up)")
async def list_ingredients(request: web.Request) -> web.Response:
    principal(request).require_role(*STAFF)
    found = await supply_of(request).repository.ingredients()
    return ok({"items": [x.as_record() for _, x in sorted(found.items())], "next_cursor": None})


@api.put(
    "/suppliers/{supplier_id}",
    body=s.SupplierBody,
    summary="Define an HQ supplier (hq_admin)",
    upsert=True,
)
async def put_supplier(request: web.Request) -> web.Response:
    principal(request).require_role(Role.HQ_ADMIN)
    body = await read_json(request, s.SupplierBody)
    record = {"id": _new_id(request, "supplier_id"), **body.model_dump()}
    created = await supply_of(request).repository.put_supplier(None, record)
    return ok(record, status=201 if created else 200)


@api.put(
    "/recipes/{menu_id}/{size}",
    body=s.RecipeBody,
    summary="Define a menu item's recipe for a size (hq_admin)",
    errors=(422,),
    upsert=True,
)
async def put_recipe(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.RecipeBody)
    recipe = Recipe(
        _new_id(request, "menu_id"), _new_id(request, "size"), tuple(_recipe_lines(body))
    )
    created = await h.put_recipe(supply_of(request), who, recipe)
    data = {
        "menu_id": recipe.menu_id,
        "size": recipe.size,
        "lines": [x.as_record() for x in recipe.lines],
    }
    return ok(data, status=201 if created else 200)


@api.get("/recipes/{menu_id}/{size}", summary="A recipe (staff and up)", errors=(404,))
async def get_recipe(request: web.Request) -> web.Response:
    principal(request).require_role(*STAFF)
    book = await supply_of(request).repository.cookbook()
    recipe = book.recipe(_m(request, "menu_id"), _m(request, "size"))
    if recipe is None:
        raise NotFound("no such recipe", details={"menu_id": _m(request, "menu_id")})
    return ok(
        {
            "menu_id": recipe.menu_id,
            "size": recipe.size,
            "lines": [x.as_record() for x in recipe.lines],
        }
    )


@api.put(
    "/topping-recipes/{topping_id}",
    body=s.RecipeBody,
    summary="What one portion of a topping takes (hq_admin)",
    errors=(422,),
    upsert=True,
)
async def put_topping_recipe(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.RecipeBody)
    lines = _recipe_lines(body)
    topping_id = _new_id(request, "topping_id")
    created = await h.put_topping_recipe(supply_of(request), who, topping_id, lines)
    data = {"topping_id": _m(request, "topping_id"), "lines": [x.as_record() for x in lines]}
    return ok(data, status=201 if created else 200)


# --- franchise suppliers and prices ----------------------------------------------------


async def _require_known_franchise(request: web.Request, franchise_id: str) -> None:
    """A franchise is one with supply data of its own or an outlet in the menu service (the
    authority for outlets): any other id (HQ may name any) is a 404 ``franchise_not_found``,
    and reading it creates no database."""
    if await request.app[DATABASES].franchise_exists(franchise_id):
        return
    page = await supply_of(request).outlets.menu.request(
        "GET", "/outlets", params={"franchise_id": franchise_id, "limit": "1"}
    )
    if not (isinstance(page, dict) and page.get("items")):
        raise FranchiseNotFound(
            f"no franchise {franchise_id}", details={"franchise_id": franchise_id}
        )


@api.put(
    "/franchises/{franchise_id}/suppliers/{supplier_id}",
    body=s.SupplierBody,
    summary="A franchise's own supplier (owner, hq)",
    upsert=True,
)
async def put_franchise_supplier(request: web.Request) -> web.Response:
    who = principal(request)
    who.require_role(*h.OWNERS)
    who.require_franchise(_m(request, "franchise_id"))
    body = await read_json(request, s.SupplierBody)
    record = {"id": _new_id(request, "supplier_id"), **body.model_dump()}
    created = await supply_of(request).repository.put_supplier(_m(request, "franchise_id"), record)
    return ok(record, status=201 if created else 200)


@api.get(
    "/franchises/{franchise_id}/suppliers",
    summary="HQ's and the franchise's suppliers",
    errors=(404,),
)
async def list_franchise_suppliers(request: web.Request) -> web.Response:
    who = principal(request)
    who.require_role(*STAFF)
    who.require_franchise(_m(request, "franchise_id"))
    await _require_known_franchise(request, _m(request, "franchise_id"))
    found = await supply_of(request).repository.suppliers(_m(request, "franchise_id"))
    return ok({"items": found, "next_cursor": None})


@api.put(
    "/franchises/{franchise_id}/ingredients/{ingredient_id}",
    body=s.OverrideBody,
    summary="The franchise's own supplier and price of an ingredient (owner, hq)",
    errors=(404, 422),
)
async def put_override(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.OverrideBody)
    fields = {k: v for k, v in body.model_dump().items() if v is not None}
    data = await h.put_override(
        supply_of(request), who, _m(request, "franchise_id"), _m(request, "ingredient_id"), fields
    )
    return ok(data)


@api.get(
    "/franchises/{franchise_id}/ingredients",
    summary="Ingredients with the franchise's suppliers and prices",
    errors=(404,),
)
async def franchise_ingredients(request: web.Request) -> web.Response:
    who = principal(request)
    who.require_role(*STAFF)
    who.require_franchise(_m(request, "franchise_id"))
    await _require_known_franchise(request, _m(request, "franchise_id"))
    found = await supply_of(request).repository.franchise_ingredients(_m(request, "franchise_id"))
    return ok({"items": [x.as_record() for _, x in sorted(found.items())], "next_cursor": None})


# --- outlet stock ----------------------------------------------------------------------


def _pairs(lines: Any) -> list[tuple[str, int]]:
    return [(x.ingredient_id, x.quantity) for x in lines]


@api.get(
    "/outlets/{outlet_id}/ingredient-stock",
    summary="On hand, reserved and available per ingredient (staff of the outlet)",
)
async def get_stock(request: web.Request) -> web.Response:
    return ok(await h.stock(supply_of(request), principal(request), _m(request, "outlet_id")))


@api.post(
    "/outlets/{outlet_id}/receipts",
    body=s.ReceiptBody,
    status=201,
    summary="Book stock that arrived (manager)",
    errors=(404, 422),
)
async def post_receipt(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.ReceiptBody)
    ref = body.ref or request.headers.get("Idempotency-Key")
    data = await h.receive(
        supply_of(request), who, _m(request, "outlet_id"), _pairs(body.lines), ref
    )
    return ok(data, status=201)


@api.post(
    "/outlets/{outlet_id}/waste",
    body=s.WasteBody,
    status=201,
    summary="Book waste with its reason (staff of the outlet)",
    errors=(404, 409, 422),
)
async def post_waste(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.WasteBody)
    ref = body.ref or request.headers.get("Idempotency-Key")
    data = await h.waste(
        supply_of(request), who, _m(request, "outlet_id"), _pairs(body.lines), body.reason, ref
    )
    return ok(data, status=201)


@api.post(
    "/outlets/{outlet_id}/stock-takes",
    body=s.StockTakeBody,
    status=201,
    summary="A count: sets the levels and records the variance (manager)",
    errors=(404, 422),
)
async def post_stock_take(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.StockTakeBody)
    ref = body.ref or request.headers.get("Idempotency-Key")
    lines = [(x.ingredient_id, x.counted) for x in body.lines]
    data = await h.stock_take(supply_of(request), who, _m(request, "outlet_id"), lines, ref)
    return ok(data, status=201)


@api.put(
    "/outlets/{outlet_id}/par-levels",
    body=s.ParLevelsBody,
    summary="Par and reorder levels per ingredient (manager)",
    errors=(404, 422),
)
async def put_par_levels(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.ParLevelsBody)
    levels = {i: ParLevel(x.par, x.reorder_at) for i, x in body.levels.items()}
    return ok(await h.put_par_levels(supply_of(request), who, _m(request, "outlet_id"), levels))


@api.get("/outlets/{outlet_id}/par-levels", summary="Par levels (staff of the outlet)")
async def get_par_levels(request: web.Request) -> web.Response:
    return ok(await h.par_levels(supply_of(request), principal(request), _m(request, "outlet_id")))


@api.get(
    "/outlets/{outlet_id}/suggested-purchase-orders",
    summary="Draft purchase orders from par levels and the analytics forecast over each "
    "supplier's lead time, one per supplier (manager); par levels alone if analytics fails",
)
async def get_suggestions(request: web.Request) -> web.Response:
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip() or None
    data = await h.suggested_purchase_orders(
        supply_of(request), principal(request), _m(request, "outlet_id"), token
    )
    return ok(data)


# --- purchase orders -------------------------------------------------------------------


@api.post(
    "/outlets/{outlet_id}/purchase-orders",
    body=s.PurchaseOrderBody,
    status=201,
    summary="Draft a purchase order (manager)",
    errors=(404, 422),
)
async def post_purchase_order(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.PurchaseOrderBody)
    lines = [(x.ingredient_id, x.packs, x.unit_price) for x in body.lines]
    data = await h.draft_purchase_order(
        supply_of(request),
        who,
        _m(request, "outlet_id"),
        body.supplier_id,
        body.expected_delivery.isoformat(),
        lines,
    )
    return ok(data, status=201)


@api.get("/outlets/{outlet_id}/purchase-orders/{po_id}", summary="A purchase order", errors=(404,))
async def get_purchase_order(request: web.Request) -> web.Response:
    data = await h.get_purchase_order(
        supply_of(request), principal(request), _m(request, "outlet_id"), _m(request, "po_id")
    )
    return ok(data)


@api.post(
    "/outlets/{outlet_id}/purchase-orders/{po_id}/submit",
    summary="Send it to the supplier (manager)",
    errors=(404, 409),
)
async def submit_purchase_order(request: web.Request) -> web.Response:
    data = await h.submit_purchase_order(
        supply_of(request), principal(request), _m(request, "outlet_id"), _m(request, "po_id")
    )
    return ok(data)


@api.post(
    "/outlets/{outlet_id}/purchase-orders/{po_id}/receipts",
    body=s.PoReceiptBody,
    summary="Book a delivery against it; stock arrives (manager)",
    errors=(404, 409, 422),
)
async def receive_purchase_order(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.PoReceiptBody)
    lines = [(x.ingredient_id, x.packs) for x in body.lines]
    data = await h.receive_purchase_order(
        supply_of(request), who, _m(request, "outlet_id"), _m(request, "po_id"), lines
    )
    return ok(data)


@api.post(
    "/outlets/{outlet_id}/purchase-orders/{po_id}/cancel",
    body=s.CancelBody,
    summary="Cancel a draft or submitted order (manager)",
    errors=(404, 409),
)
async def cancel_purchase_order(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.CancelBody)
    data = await h.cancel_purchase_order(
        supply_of(request), who, _m(request, "outlet_id"), _m(request, "po_id"), body.reason
    )
    return ok(data)


# --- transfers -------------------------------------------------------------------------


@api.post(
    "/outlets/{outlet_id}/transfers",
    body=s.TransferBody,
    status=201,
    summary="Ask to send stock to another outlet of the franchise (manager)",
    errors=(404, 409, 422),
)
async def post_transfer(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.TransferBody)
    data = await h.request_transfer(
        supply_of(request), who, _m(request, "outlet_id"), body.to_outlet_id, _pairs(body.lines)
    )
    return ok(data, status=201)


@api.get(
    "/outlets/{outlet_id}/transfers/{transfer_id}",
    summary="A transfer (either outlet's staff)",
    errors=(404,),
)
async def get_transfer(request: web.Request) -> web.Response:
    data = await h.get_transfer(
        supply_of(request), principal(request), _m(request, "outlet_id"), _m(request, "transfer_id")
    )
    return ok(data)


@api.post(
    "/outlets/{outlet_id}/transfers/{transfer_id}/ship",
    summary="Stock leaves the sending outlet (its manager)",
    errors=(404, 409),
)
async def ship_transfer(request: web.Request) -> web.Response:
    data = await h.ship_transfer(
        supply_of(request), principal(request), _m(request, "outlet_id"), _m(request, "transfer_id")
    )
    return ok(data)


@api.post(
    "/outlets/{outlet_id}/transfers/{transfer_id}/receive",
    body=s.TransferReceiptBody,
    summary="What arrived at the receiving outlet; the rest is the loss (its manager)",
    errors=(404, 409, 422),
)
async def receive_transfer(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.TransferReceiptBody)
    lines = [(x.ingredient_id, x.counted) for x in body.lines if x.counted > 0]
    data = await h.receive_transfer(
        supply_of(request), who, _m(request, "outlet_id"), _m(request, "transfer_id"), lines
    )
    return ok(data)


@api.post(
    "/outlets/{outlet_id}/transfers/{transfer_id}/cancel",
    body=s.CancelBody,
    summary="Cancel a transfer not yet shipped (manager)",
    errors=(404, 409),
)
async def cancel_transfer(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, s.CancelBody)
    data = await h.cancel_transfer(
        supply_of(request), who, _m(request, "outlet_id"), _m(request, "transfer_id"), body.reason
    )
    return ok(data)


# --- lists ---------------------------------------------------------------------------------

LIST_QUERY = (
    ("status", "string", "only this status (default: every open one)"),
    *PAGE_QUERY,
)


def _list_query(request: web.Request) -> tuple[str | None, PageRequest[int]]:
    """``status``, ``limit`` and ``cursor``; anything else is a 422 naming it."""
    for name in request.query:
        if name not in ("status", "limit", "cursor"):
            raise bad_query(name, "not a parameter of this list")
    return request.query.get("status") or None, page_request(request.query, as_int)


def _lister(what: str, level: str) -> Any:
    async def handle(request: web.Request) -> web.Response:
        status, page = _list_query(request)
        if level == "outlet":
            data = await h.list_outlet_documents(
                supply_of(request), principal(request), what, _m(request, "outlet_id"), status, page
            )
        else:
            data = await h.list_franchise_documents(
                supply_of(request),
                principal(request),
                what,
                _m(request, "franchise_id"),
                status,
                page,
            )
        return ok(data)

    handle.__name__ = f"list_{what}_{level}"
    return handle


for _what, _noun in (("po", "purchase-orders"), ("transfer", "transfers")):
    api.get(
        f"/outlets/{{outlet_id}}/{_noun}",
        query=LIST_QUERY,
        summary=f"The outlet's {_noun.replace('-', ' ')}, newest first (staff of the outlet)",
        errors=(404, 422),
    )(_lister(_what, "outlet"))
    api.get(
        f"/franchises/{{franchise_id}}/{_noun}",
        query=LIST_QUERY,
        summary=f"The franchise's {_noun.replace('-', ' ')}, newest first (owner, hq)",
        errors=(422,),
    )(_lister(_what, "franchise"))


# --- the order saga (service) ----------------------------------------------------------


@api.post(
    "/internal/stock/reservations",
    body=s.ReservationBody,
    status=201,
    summary="Hold an order's ingredients by recipe, all or nothing; idempotent on order_id",
    errors=(409, 422),
)
async def reserve(request: web.Request) -> web.Response:
    principal(request).require_role(Role.SERVICE)
    body = await read_json(request, s.ReservationBody)
    items = [x.model_dump() for x in body.items]
    data = await h.reserve(supply_of(request), body.order_id, body.outlet_id, items)
    return ok(data, status=201)


@api.post(
    "/internal/stock/reservations/{order_id}/release",
    summary="Give an order's ingredients back; idempotent (service)",
    errors=(404, 409),
)
async def release(request: web.Request) -> web.Response:
    principal(request).require_role(Role.SERVICE)
    return ok(await h.settle(supply_of(request), _m(request, "order_id"), "release"))


@api.post(
    "/internal/stock/reservations/{order_id}/commit",
    summary="The order is being made: its ingredients are used; idempotent (service)",
    errors=(404, 409),
)
async def commit(request: web.Request) -> web.Response:
    principal(request).require_role(Role.SERVICE)
    return ok(await h.settle(supply_of(request), _m(request, "order_id"), "commit"))
