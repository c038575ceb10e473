"""The menu's HTTP routes. Each one: who may call it (role, then franchise/outlet), the
body read strictly, the command handed to its handler, the answer in the envelope."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bobaku.kernel.auth import FRANCHISE_MANAGERS, OUTLET_MANAGERS, Principal, Role
from bobaku.kernel.cache import edge_headers, etag_matches, weak_etag
from bobaku.kernel.errors import ValidationFailed
from bobaku.kernel.ids import OUTLET_ID
from bobaku.kernel.openapi import Api
from bobaku.kernel.pagination import PAGE_QUERY, as_str, encode_cursor, page_request
from bobaku.kernel.web import DATABASES, ok, principal, read_json
from bobaku.services.menu.domain import commands
from bobaku.services.menu.domain.errors import OutletNotFound
from bobaku.services.menu.domain.model import (
    DEFAULT_TIMEZONE,
    FRANCHISE_ID,
    STATIONS,
    MenuItem,
    Outlet,
    Season,
    WeeklyHours,
)
from bobaku.services.menu.entrypoints import schemas as s
from bobaku.services.menu.service_layer import handlers, views
from bobaku.services.menu.service_layer.context import MenuContext

CONTEXT = web.AppKey("menu_context", MenuContext)

api = Api(
    "menu",
    "BobaKu menu: HQ catalog, franchise prices, outlet availability, hours and stock, "
    "effective menus, and quotes for the order service.",
)

PAGE = PAGE_QUERY


def context_of(request: web.Request) -> MenuContext:
    return request.app[CONTEXT]


def page_params(request: web.Request) -> tuple[int, str | None]:
    page = page_request(request.query, as_str)
    return page.limit, page.cursor


def cursor_after(last_id: str | None) -> str | None:
    return None if last_id is None else encode_cursor(last_id)


async def _outlet_for(request: web.Request, who: Principal, *roles: Role) -> Outlet:
    """The outlet in the path, once the caller is shown to be one of its staff in ``roles``."""
    who.require_role(*roles)
    outlet = await views.get_outlet(context_of(request), request.match_info["outlet_id"])
    who.require_outlet(outlet.franchise_id, outlet.id)
    return outlet


def _franchise_for(request: web.Request, who: Principal) -> str:
    who.require_role(*FRANCHISE_MANAGERS)
    franchise_id = request.match_info["franchise_id"]
    if not FRANCHISE_ID.match(franchise_id):
        raise ValidationFailed(
            "franchise id is invalid",
            details={"fields": [{"field": "franchise_id", "problem": "not a franchise id"}]},
        )
    who.require_franchise(franchise_id)
    return franchise_id


async def _require_known_franchise(request: web.Request, franchise_id: str) -> None:
    """A franchise is one with an outlet or data of its own: any other id (HQ may name any)
    is a 404 ``franchise_not_found``, and reading it creates no database."""
    deps = context_of(request)
    if await deps.repository.outlets(franchise_id=franchise_id, city=None, after=None, limit=1):
        return
    await request.app[DATABASES].existing_franchise(franchise_id)


def _hours(body: dict[s.Weekday, list[s.ShiftBody]]) -> WeeklyHours:
    return WeeklyHours.from_record(
        {day: [{"open": x.open, "close": x.close} for x in shifts] for day, shifts in body.items()}
    )


def _season(body: s.SeasonBody | None) -> Season | None:
    return Season(body.starts_at, body.ends_at) if body else None


# --- public reads ----------------------------------------------------------------------


@api.get(
    "/outlets",
    summary="Outlets, optionally of one franchise or city",
    response=s.OutletPage,
    auth=False,
    errors=(422,),
    query=(
        ("franchise_id", "string", "only this franchise's outlets"),
        ("city", "string", "only outlets in this city"),
        *PAGE,
    ),
)
async def list_outlets(request: web.Request) -> web.Response:
    limit, after = page_params(request)
    items, last = await views.outlet_page(
        context_of(request),
        franchise_id=request.query.get("franchise_id") or None,
        city=request.query.get("city") or None,
        after=after,
        limit=limit,
    )
    return ok(s.shaped(s.OutletPage, {"items": items, "next_cursor": cursor_after(last)}))


@api.get(
    "/outlets/{outlet_id}",
    summary="An outlet: address, hours, stations and whether it is open now",
    response=s.OutletOut,
    auth=False,
    errors=(404,),
)
async def get_outlet(request: web.Request) -> web.Response:
    view = await views.outlet_view(context_of(request), request.match_info["outlet_id"])
    return ok(s.shaped(s.OutletOut, view))


@api.get(
    "/outlets/{outlet_id}/menu",
    summary="The outlet's effective menu now (HQ catalog → franchise prices → outlet)",
    response=s.MenuOut,
    auth=False,
    errors=(404,),
)
async def get_outlet_menu(request: web.Request) -> web.Response:
    """Marked cacheable at the edge: the gateway keeps the encoded answer until one of the
    cache tags it was worked out under moves or the clock could change it; ``ETag`` (over
    everything but ``as_of``, the moment it was worked out) lets a client ask again with
    ``If-None-Match`` and get a 304."""
    menu, gens, max_age_s = await views.outlet_menu_with_validity(
        context_of(request), request.match_info["outlet_id"]
    )
    shaped = s.shaped(s.MenuOut, menu)
    etag = weak_etag({k: v for k, v in shaped.items() if k != "as_of"})
    headers = edge_headers(etag, gens, max_age_s)
    if etag_matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    return ok(shaped, headers=headers)


@api.get(
    "/items/{item_id}",
    summary="An item of the HQ catalog",
    response=s.CatalogItemOut,
    auth=False,
    errors=(404,),
)
async def get_item(request: web.Request) -> web.Response:
    item = await views.item_view(context_of(request), request.match_info["item_id"])
    return ok(s.shaped(s.CatalogItemOut, item))


@api.get(
    "/toppings",
    summary="The toppings of the HQ catalog with their prices",
    response=s.ToppingPage,
    auth=False,
    errors=(422,),
    query=PAGE,
)
async def list_toppings(request: web.Request) -> web.Response:
    limit, after = page_params(request)
    toppings = [
        t for t in await views.toppings(context_of(request)) if after is None or t["id"] > after
    ]
    page = toppings[:limit]
    last = page[-1]["id"] if len(toppings) > limit else None
    return ok(s.shaped(s.ToppingPage, {"items": page, "next_cursor": cursor_after(last)}))


# --- HQ catalog changes ------------------------------------------------------------------


@api.post(
    "/items",
    summary="Add an item to the HQ catalog (hq_admin)",
    body=s.NewItem,
    response=s.CatalogItemOut,
    status=201,
    errors=(409,),
)
async def add_item(request: web.Request) -> web.Response:
    principal(request).require_role(Role.HQ_ADMIN)
    body = await read_json(request, s.NewItem)
    item = MenuItem(
        id=body.id,
        name=body.name,
        category_id=body.category_id,
        base_price=body.base_price,
        station=body.station,
        prep_seconds=body.prep_seconds,
        description=body.description,
        sugar_levels=tuple(body.sugar_levels),
        ice_levels=tuple(body.ice_levels),
        topping_ids=tuple(body.topping_ids),
        season=_season(body.season),
        active=body.active,
    )
    created = await handlers.add_item(commands.AddItem(item), context_of(request))
    return ok(s.shaped(s.CatalogItemOut, created), status=201)


@api.patch(
    "/items/{item_id}",
    summary="Change an item of the HQ catalog: price, season, options… (hq_admin)",
    body=s.ItemChanges,
    response=s.CatalogItemOut,
    errors=(404,),
)
async def change_item(request: web.Request) -> web.Response:
    principal(request).require_role(Role.HQ_ADMIN)
    body = await read_json(request, s.ItemChanges)
    changes: dict[str, Any] = {}
    for field in body.model_fields_set:
        value = getattr(body, field)
        if field == "season":
            value = _season(value)
        elif isinstance(value, list):
            value = tuple(value)
        changes[field] = value
    cmd = commands.ChangeItem(request.match_info["item_id"], changes)
    changed = await handlers.change_item(cmd, context_of(request))
    return ok(s.shaped(s.CatalogItemOut, changed))


# --- franchise prices --------------------------------------------------------------------


@api.get(
    "/franchises/{franchise_id}/prices",
    summary="The franchise's price overrides (its franchise_owner, hq_admin)",
    response=s.PriceList,
    errors=(403, 404, 422),
)
async def list_franchise_prices(request: web.Request) -> web.Response:
    who = principal(request)
    franchise_id = _franchise_for(request, who)
    if who.has_role(Role.HQ_ADMIN):
        await _require_known_franchise(request, franchise_id)
    items = await views.franchise_prices(context_of(request), franchise_id)
    return ok(s.shaped(s.PriceList, {"items": items, "next_cursor": None}))


@api.put(
    "/franchises/{franchise_id}/prices/{item_id}",
    summary="Set the franchise's price of an item (its franchise_owner, hq_admin)",
    body=s.PriceBody,
    response=s.PriceOut,
    errors=(404,),
)
async def set_franchise_price(request: web.Request) -> web.Response:
    franchise_id = _franchise_for(request, principal(request))
    body = await read_json(request, s.PriceBody)
    cmd = commands.SetFranchisePrice(franchise_id, request.match_info["item_id"], body.price)
    return ok(s.shaped(s.PriceOut, await handlers.set_franchise_price(cmd, context_of(request))))


@api.delete(
    "/franchises/{franchise_id}/prices/{item_id}",
    summary="Go back to the HQ price of an item (its franchise_owner, hq_admin)",
    response=s.PriceOut,
    errors=(404, 422),
)
async def remove_franchise_price(request: web.Request) -> web.Response:
    franchise_id = _franchise_for(request, principal(request))
    cmd = commands.RemoveFranchisePrice(franchise_id, request.match_info["item_id"])
    return ok(s.shaped(s.PriceOut, await handlers.remove_franchise_price(cmd, context_of(request))))


# --- outlet settings ---------------------------------------------------------------------


@api.put(
    "/outlets/{outlet_id}/availability",
    summary="Which items the outlet sells: {item_id: bool} (outlet_manager, owner, hq)",
    body=s.AvailabilityBody,
    response=s.AvailabilityOut,
    errors=(404,),
)
async def set_outlet_availability(request: web.Request) -> web.Response:
    outlet = await _outlet_for(request, principal(request), *OUTLET_MANAGERS)
    body = await read_json(request, s.AvailabilityBody)
    cmd = commands.SetOutletAvailability(outlet.id, dict(body.root))
    view = await handlers.set_outlet_availability(cmd, context_of(request))
    return ok(s.shaped(s.AvailabilityOut, view))


@api.put(
    "/outlets/{outlet_id}/hours",
    summary="The outlet's opening hours and time zone (outlet_manager, owner, hq)",
    body=s.HoursBody,
    response=s.OutletOut,
    errors=(404,),
)
async def set_opening_hours(request: web.Request) -> web.Response:
    outlet = await _outlet_for(request, principal(request), *OUTLET_MANAGERS)
    body = await read_json(request, s.HoursBody)
    cmd = commands.SetOpeningHours(outlet.id, _hours(body.opening_hours), body.timezone)
    return ok(s.shaped(s.OutletOut, await handlers.set_opening_hours(cmd, context_of(request))))


# --- internal (service role) -------------------------------------------------------------


@api.put(
    "/internal/outlets/{outlet_id}",
    summary="Register or update an outlet (the operator; service)",
    body=s.OutletRegistration,
    response=s.OutletOut,
    errors=(404, 409),
    upsert=True,
)
async def register_outlet(request: web.Request) -> web.Response:
    principal(request).require_role(Role.SERVICE)
    outlet_id = request.match_info["outlet_id"]
    if not OUTLET_ID.match(outlet_id):
        raise ValidationFailed(
            "outlet id is invalid",
            details={
                "fields": [{"field": "outlet_id", "problem": f"must match {OUTLET_ID.pattern}"}]
            },
        )
    body = await read_json(request, s.OutletRegistration)
    deps = context_of(request)
    outlet = Outlet(
        id=outlet_id,
        franchise_id=body.franchise_id,
        name=body.name,
        address=body.address,
        phone=body.phone,
        city=body.city,
        timezone=body.timezone or deps.default_timezone or DEFAULT_TIMEZONE,
        hours=(
            _hours(body.opening_hours)
            if body.opening_hours is not None
            else WeeklyHours.daily("10:00", "22:00")
        ),
        stations=tuple(body.stations) if body.stations else STATIONS,
    )
    view, created = await handlers.register_outlet(commands.RegisterOutlet(outlet), deps)
    return ok(s.shaped(s.OutletOut, view), status=201 if created else 200)


@api.delete(
    "/internal/outlets/{outlet_id}",
    summary="Retire an outlet (the operator, when its Outlet resource is deleted; service)",
    errors=(404,),
)
async def retire_outlet(request: web.Request) -> web.Response:
    principal(request).require_role(Role.SERVICE)
    outlet_id = request.match_info["outlet_id"]
    if not await handlers.retire_outlet(commands.RetireOutlet(outlet_id), context_of(request)):
        raise OutletNotFound(f"no outlet {outlet_id}", details={"outlet_id": outlet_id})
    return ok({"id": outlet_id, "retired": True})


@api.get(
    "/internal/outlets/{outlet_id}/pricing",
    summary="What pricing an order at the outlet needs, with its version (service)",
    errors=(404,),
)
async def outlet_pricing(request: web.Request) -> web.Response:
    principal(request).require_role(Role.SERVICE)
    snapshot = await handlers.pricing_snapshot(request.match_info["outlet_id"], context_of(request))
    return ok(snapshot)


@api.post(
    "/internal/quotes",
    summary="Price an order at an outlet now (service)",
    body=s.QuoteBody,
    response=s.QuoteOut,
    errors=(409,),
)
async def quote_order(request: web.Request) -> web.Response:
    principal(request).require_role(Role.SERVICE)
    body = await read_json(request, s.QuoteBody)
    quote = await handlers.quote_order(
        commands.QuoteOrder(body.outlet_id, body.lines()), context_of(request)
    )
    return ok(s.shaped(s.QuoteOut, quote))
