"""The menu's use cases, one handler per command.

Each handler validates what only the current data can tell (does the item exist, is the
level offered…) before writing anything, so a refused command changes nothing. Who may
run a command (role, franchise, outlet) is checked by the entry point before it calls here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from bobaku.kernel.errors import ValidationFailed
from bobaku.services.menu.domain import errors, events
from bobaku.services.menu.domain import menu as rules
from bobaku.services.menu.domain.commands import (
    AddItem,
    ChangeItem,
    QuoteOrder,
    RegisterOutlet,
    RemoveFranchisePrice,
    RetireOutlet,
    SetFranchisePrice,
    SetOpeningHours,
    SetOutletAvailability,
)
from bobaku.services.menu.domain.model import (
    STATIONS,
    MenuItem,
    Outlet,
    item_problems,
    valid_timezone,
)
from bobaku.services.menu.service_layer import views
from bobaku.services.menu.service_layer.context import MenuContext


def invalid(
    problems: Iterable[rules.Problem], message: str = "request has invalid fields"
) -> ValidationFailed:
    """A 422 naming every field."""
    fields = [
        {"field": p.field, "problem": p.problem, "type": "menu_rule", "value": p.value}
        for p in problems
    ]
    return ValidationFailed(message, details={"fields": fields})


def refuse(problems: Iterable[rules.Problem], message: str = "request has invalid fields") -> None:
    """Raise a 422 naming every field, if there is any problem."""
    found = list(problems)
    if found:
        raise invalid(found, message)


# --- the HQ catalog ---------------------------------------------------------------------


async def _catalog_problems(deps: MenuContext, item: MenuItem) -> list[rules.Problem]:
    categories = [c.id for c in await deps.repository.categories()]
    toppings = [t.id for t in await deps.repository.toppings()]
    return [
        rules.Problem(field, problem)
        for field, problem in item_problems(item, categories=categories, toppings=toppings)
    ]


async def add_item(cmd: AddItem, deps: MenuContext) -> dict[str, Any]:
    refuse(await _catalog_problems(deps, cmd.item))
    event = deps.event(events.item_changed(cmd.item.id, "created", list(cmd.item.as_record())))
    if not await deps.repository.add_item(cmd.item, event):
        raise errors.ItemExists(
            f"the catalog already has an item {cmd.item.id}", details={"item_id": cmd.item.id}
        )
    return views.item_record(cmd.item)


async def change_item(cmd: ChangeItem, deps: MenuContext) -> dict[str, Any]:
    item = await deps.repository.item(cmd.item_id)
    if item is None:
        raise errors.ItemNotFound(f"no item {cmd.item_id} in the catalog")
    changed = item.changed(**cmd.changes)
    refuse(await _catalog_problems(deps, changed))
    event = deps.event(events.item_changed(item.id, "updated", list(cmd.changes)))
    await deps.repository.save_item(changed, event)
    return views.item_record(changed)


# --- franchise prices -------------------------------------------------------------------


async def _catalog_item(deps: MenuContext, item_id: str) -> MenuItem:
    item = await deps.repository.item(item_id)
    if item is None:
        raise errors.ItemNotFound(f"no item {item_id} in the catalog", details={"item_id": item_id})
    return item


async def set_franchise_price(cmd: SetFranchisePrice, deps: MenuContext) -> dict[str, Any]:
    item = await _catalog_item(deps, cmd.item_id)
    previous = await deps.repository.franchise_price(cmd.franchise_id, item.id)
    event = deps.event(events.price_changed(cmd.franchise_id, item.id, cmd.price, previous))
    await deps.repository.set_franchise_price(cmd.franchise_id, item.id, cmd.price, event)
    return _price_view(cmd.franchise_id, item, cmd.price)


async def remove_franchise_price(cmd: RemoveFranchisePrice, deps: MenuContext) -> dict[str, Any]:
    item = await _catalog_item(deps, cmd.item_id)
    previous = await deps.repository.franchise_price(cmd.franchise_id, item.id)
    if previous is not None:
        event = deps.event(events.price_changed(cmd.franchise_id, item.id, None, previous))
        await deps.repository.set_franchise_price(cmd.franchise_id, item.id, None, event)
    return _price_view(cmd.franchise_id, item, None)


def _price_view(franchise_id: str, item: MenuItem, override: int | None) -> dict[str, Any]:
    return {
        "franchise_id": franchise_id,
        "item_id": item.id,
        "name": item.name,
        "base_price": item.base_price,
        "override": override,
        "price": item.base_price if override is None else override,
    }


# --- outlets ----------------------------------------------------------------------------


async def set_outlet_availability(cmd: SetOutletAvailability, deps: MenuContext) -> dict[str, Any]:
    outlet = await views.get_outlet(deps, cmd.outlet_id)
    known = {i.id for i in await deps.repository.items(active_only=False)}
    refuse(
        rules.Problem(item_id, f"no item {item_id} in the catalog", item_id)
        for item_id in sorted(cmd.items)
        if item_id not in known
    )
    event = deps.event(events.availability_changed(outlet.franchise_id, outlet.id, cmd.items))
    await deps.repository.set_availability(outlet.franchise_id, outlet.id, cmd.items, event)
    unavailable = await deps.repository.unavailable_items(outlet.franchise_id, outlet.id)
    return {"outlet_id": outlet.id, "unavailable": sorted(unavailable)}


def _outlet_problems(outlet: Outlet) -> list[rules.Problem]:
    problems = [
        rules.Problem(f"opening_hours.{day}", problem) for day, problem in outlet.hours.problems()
    ]
    if not valid_timezone(outlet.timezone):
        problems.append(rules.Problem("timezone", "not an IANA time zone", outlet.timezone))
    problems.extend(
        rules.Problem(f"stations.{i}", f"station must be one of {', '.join(STATIONS)}", s)
        for i, s in enumerate(outlet.stations)
        if s not in STATIONS
    )
    return problems


async def set_opening_hours(cmd: SetOpeningHours, deps: MenuContext) -> dict[str, Any]:
    outlet = await views.get_outlet(deps, cmd.outlet_id)
    changed = replace(outlet, hours=cmd.hours, timezone=cmd.timezone or outlet.timezone)
    refuse(_outlet_problems(changed))
    hours = changed.hours.as_record()
    event = deps.event(
        events.hours_changed(outlet.franchise_id, outlet.id, changed.timezone, hours)
    )
    await deps.repository.set_hours(outlet.id, changed.timezone, hours, event)
    return views.outlet_record(changed, deps)


async def register_outlet(cmd: RegisterOutlet, deps: MenuContext) -> tuple[dict[str, Any], bool]:
    """Create or update an outlet's registration; True when it is new."""
    outlet = cmd.outlet
    refuse(_outlet_problems(outlet))
    existing = await deps.repository.outlet(outlet.id)
    if existing is not None and existing.franchise_id != outlet.franchise_id:
        raise errors.OutletFranchiseFixed(
            f"{outlet.id} belongs to {existing.franchise_id}",
            details={"outlet_id": outlet.id, "franchise_id": existing.franchise_id},
        )
    change = "created" if existing is None else "updated"
    event = deps.event(events.outlet_changed(outlet.franchise_id, outlet.id, change))
    await deps.repository.save_outlet(outlet, event)
    return views.outlet_record(outlet, deps), existing is None


async def retire_outlet(cmd: RetireOutlet, deps: MenuContext) -> bool:
    """Retire a registered outlet (its Outlet resource was deleted); False if there was none."""
    existing = await deps.repository.outlet(cmd.outlet_id)
    if existing is None:
        return False
    event = deps.event(events.outlet_changed(existing.franchise_id, existing.id, "deleted"))
    await deps.repository.retire_outlet(existing.id, event)
    return True


# --- quotes -----------------------------------------------------------------------------


async def quote_order(cmd: QuoteOrder, deps: MenuContext) -> dict[str, Any]:
    outlet = await views.find_outlet(deps, cmd.outlet_id)
    if outlet is None:
        raise invalid([rules.Problem("outlet_id", "no such outlet", cmd.outlet_id)])
    catalog = await views.outlet_catalog(deps, outlet)
    stock = await views.stock_left(deps, outlet)
    return priced(catalog, stock, deps.clock(), cmd.lines)


def priced(
    catalog: rules.OutletCatalog,
    stock: Mapping[str, int],
    now: datetime,
    lines: Sequence[rules.OrderLine],
) -> dict[str, Any]:
    """The quote of ``lines`` from a catalog, or the refusal (422 naming each field, 409
    closed or unavailable). Pure: the order service runs it on its copy of the menu when
    this service is unreachable (``services/order/adapters/menu_copy.py``)."""
    outlet = catalog.outlet
    try:
        quote = rules.price_order(catalog, dict(stock), now, lines)
    except rules.InvalidOrder as exc:
        raise invalid(exc.problems, "the order has invalid items") from exc
    except rules.OutletClosed as exc:
        raise errors.OutletClosed(
            str(exc),
            details={"outlet_id": outlet.id, "opening_hours": outlet.hours.as_record()},
        ) from exc
    except rules.ItemsUnavailable as exc:
        raise errors.ItemUnavailable(
            f"not available now: {exc}", details={"items": exc.items}
        ) from exc
    return quote_view(quote)


async def pricing_snapshot(outlet_id: str, deps: MenuContext) -> dict[str, Any]:
    """What pricing an order at the outlet needs (its catalog layers and the items out of
    stock), with a version: a digest of both, so a copy can tell it is current; and the
    generations of the cache tags it depends on, read before it: while they are unchanged,
    a quote from the copy is the quote this service would give (one ``MGET``)."""
    gens, outlet = await views.outlet_generations(deps, outlet_id)
    body = {
        "catalog": (await views.outlet_catalog(deps, outlet)).as_record(),
        "stock_left": await views.stock_left(deps, outlet),
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    version = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return {"outlet_id": outlet.id, "version": version, "generations": gens, **body}


def quote_view(quote: rules.Quote) -> dict[str, Any]:
    outlet = quote.outlet
    return {
        "outlet": {
            "id": outlet.id,
            "franchise_id": outlet.franchise_id,
            "name": outlet.name,
            "address": outlet.address,
            "phone": outlet.phone,
        },
        "lines": [_line_view(line) for line in quote.lines],
        "total": quote.total,
    }


def _line_view(line: rules.PricedLine) -> dict[str, Any]:
    return {
        "menu_id": line.menu_id,
        "name": line.name,
        "unit_price": line.unit_price,
        "base_price": line.base_price,
        "quantity": line.quantity,
        "customizations": {
            "sugar_level": line.sugar_level,
            "ice_level": line.ice_level,
            "toppings": [t.as_record() for t in line.toppings],
        },
        "subtotal": line.subtotal,
        "station": line.station,
        "prep_seconds": line.prep_seconds,
    }
