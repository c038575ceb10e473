"""The supply use cases. Each checks the caller (role, then franchise/outlet), validates
what the body cannot say by itself (ingredients that exist, units that match), and only
then records anything: a refused request has written nothing."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bobaku.kernel.auth import FRANCHISE_MANAGERS, OUTLET_MANAGERS, OUTLET_STAFF, Principal, Role
from bobaku.kernel.errors import ConcurrencyConflict, Conflict, NotFound, ValidationFailed
from bobaku.kernel.outlets import OutletDirectory
from bobaku.kernel.pagination import PageRequest, page_of
from bobaku.services.supply.adapters.aggregates import Documents, StockLedgers
from bobaku.services.supply.adapters.announcements import AnnouncedAvailability
from bobaku.services.supply.adapters.forecasts import HORIZON_DAYS, DemandForecasts
from bobaku.services.supply.adapters.lists import DocumentLists
from bobaku.services.supply.adapters.repository import SupplyRepository
from bobaku.services.supply.domain import ledger as rules
from bobaku.services.supply.domain.ledger import OutletStock, StockFact
from bobaku.services.supply.domain.purchasing import (
    PO_RECEIVED,
    TRANSFER_RECEIVED,
    InvalidTransition,
    OverReceipt,
    ParLevel,
    PurchaseOrder,
    Transfer,
    suggest,
)
from bobaku.services.supply.domain.recipes import (
    DEFAULT_SIZE,
    STANDARD_LEVEL,
    Ingredient,
    OrderLine,
    Recipe,
    RecipeLine,
    forecast_use,
)

SOURCE = "supply-service"
MANAGERS = OUTLET_MANAGERS
STAFF = OUTLET_STAFF
OWNERS = FRANCHISE_MANAGERS


@dataclass
class SupplyContext:
    """What the handlers work with; built once in bootstrap."""

    repository: SupplyRepository
    ledgers: StockLedgers
    purchase_orders: Documents
    transfers: Documents
    outlets: OutletDirectory
    po_lists: DocumentLists
    transfer_lists: DocumentLists
    forecasts: DemandForecasts
    announced: AnnouncedAvailability


class InsufficientStock(Conflict):
    code = "insufficient_stock"


class ReservationNotFound(NotFound):
    code = "reservation_not_found"


class ReservationClosed(Conflict):
    code = "reservation_closed"


class ReservationElsewhere(Conflict):
    code = "reservation_elsewhere"


class TransitionRefused(Conflict):
    code = "invalid_transition"


def invalid(problems: Iterable[tuple[str, str, Any]]) -> None:
    """Raise one 422 naming every bad field, if there is any."""
    fields = [{"field": f, "problem": p, "value": v} for f, p, v in problems]
    if fields:
        raise ValidationFailed("request body has invalid fields", details={"fields": fields})


def new_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def _shortage(exc: rules.InsufficientStock, outlet_id: str, **extra: Any) -> InsufficientStock:
    return InsufficientStock(
        "not enough stock; nothing was changed",
        details={
            "outlet_id": outlet_id,
            "ingredients": [s.as_record() for s in exc.shortages],
            **extra,
        },
    )


async def outlet_access(
    supply: SupplyContext, who: Principal, outlet_id: str, roles: tuple[Role, ...] = MANAGERS
) -> str:
    """The outlet's franchise, once the caller is allowed there (403 + security log if not)."""
    who.require_role(*roles)
    franchise_id = await supply.outlets.franchise_of(outlet_id)
    who.require_outlet(franchise_id, outlet_id)
    return franchise_id


# --- HQ catalog ------------------------------------------------------------------------


async def put_ingredient(supply: SupplyContext, who: Principal, ingredient: Ingredient) -> bool:
    who.require_role(Role.HQ_ADMIN)
    if ingredient.supplier_id is not None:
        suppliers = {s["id"] for s in await supply.repository.suppliers(None)}
        invalid(
            [("supplier_id", "no HQ supplier with this id", ingredient.supplier_id)]
            if ingredient.supplier_id not in suppliers
            else []
        )
    return await supply.repository.put_ingredient(ingredient)


async def check_lines(supply: SupplyContext, lines: list[RecipeLine]) -> None:
    known = await supply.repository.ingredients()
    problems = []
    for n, line in enumerate(lines):
        ingredient = known.get(line.ingredient_id)
        if ingredient is None:
            problems.append(
                (f"lines.{n}.ingredient_id", "no ingredient with this id", line.ingredient_id)
            )
    invalid(problems)


async def put_recipe(supply: SupplyContext, who: Principal, recipe: Recipe) -> bool:
    who.require_role(Role.HQ_ADMIN)
    await check_lines(supply, list(recipe.lines))
    return await supply.repository.put_recipe(recipe)


async def put_topping_recipe(
    supply: SupplyContext, who: Principal, topping_id: str, lines: list[RecipeLine]
) -> bool:
    who.require_role(Role.HQ_ADMIN)
    await check_lines(supply, lines)
    return await supply.repository.put_topping_recipe(topping_id, [x.as_record() for x in lines])


async def put_override(
    supply: SupplyContext,
    who: Principal,
    franchise_id: str,
    ingredient_id: str,
    fields: dict[str, Any],
) -> dict[str, Any]:
    who.require_role(*OWNERS)
    who.require_franchise(franchise_id)
    ingredients = await supply.repository.ingredients()
    if ingredient_id not in ingredients:
        raise NotFound(f"no ingredient {ingredient_id}", details={"ingredient_id": ingredient_id})
    if fields.get("supplier_id") is not None:
        found = await supply.repository.supplier(franchise_id, fields["supplier_id"])
        invalid([] if found else [("supplier_id", "no such supplier", fields["supplier_id"])])
    await supply.repository.put_override(franchise_id, ingredient_id, fields)
    effective = await supply.repository.franchise_ingredients(franchise_id)
    return effective[ingredient_id].as_record()


# --- stock -------------------------------------------------------------------------------


async def _lines_of_known(
    supply: SupplyContext, lines: Iterable[tuple[str, int]], field: str = "lines"
) -> dict[str, int]:
    """Sum the lines per ingredient, refusing ingredients HQ never defined."""
    known = await supply.repository.ingredients()
    out: dict[str, int] = {}
    problems = []
    for n, (ingredient_id, quantity) in enumerate(lines):
        if ingredient_id not in known:
            problems.append(
                (f"{field}.{n}.ingredient_id", "no ingredient with this id", ingredient_id)
            )
        out[ingredient_id] = out.get(ingredient_id, 0) + quantity
    invalid(problems)
    return out


def _stock_view(franchise_id: str, outlet_id: str) -> Any:
    def view(ledger: OutletStock) -> dict[str, Any]:
        return {"outlet_id": outlet_id, "franchise_id": franchise_id, "items": ledger.report()}

    return view


async def _book(
    supply: SupplyContext, franchise_id: str, outlet_id: str, decide: Any
) -> tuple[StockFact | None, dict[str, Any]]:
    try:
        return await supply.ledgers.change(
            franchise_id, outlet_id, decide, _stock_view(franchise_id, outlet_id)
        )
    except rules.InsufficientStock as exc:
        raise _shortage(exc, outlet_id) from exc


async def receive(
    supply: SupplyContext,
    who: Principal,
    outlet_id: str,
    lines: list[tuple[str, int]],
    ref: str | None,
) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id)
    quantities = await _lines_of_known(supply, lines)
    ref = ref or new_id("rcv")
    fact, view = await _book(
        supply, franchise_id, outlet_id, lambda s: s.receive(ref, quantities, "manual")
    )
    return {"ref": ref, "recorded": fact is not None, **view}


async def waste(
    supply: SupplyContext,
    who: Principal,
    outlet_id: str,
    lines: list[tuple[str, int]],
    reason: str,
    ref: str | None,
) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id, STAFF)
    quantities = await _lines_of_known(supply, lines)
    ref = ref or new_id("wst")
    fact, view = await _book(
        supply, franchise_id, outlet_id, lambda s: s.waste(ref, quantities, reason)
    )
    return {"ref": ref, "reason": reason, "recorded": fact is not None, **view}


async def stock_take(
    supply: SupplyContext,
    who: Principal,
    outlet_id: str,
    lines: list[tuple[str, int]],
    ref: str | None,
) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id)
    counted = await _lines_of_known(supply, lines)
    ref = ref or new_id("cnt")
    fact, view = await _book(supply, franchise_id, outlet_id, lambda s: s.count(ref, counted))
    variance = fact.data["counts"] if fact is not None else []
    return {"ref": ref, "variance": variance, "recorded": fact is not None, **view}


async def stock(supply: SupplyContext, who: Principal, outlet_id: str) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id, STAFF)
    view, _ = await supply.ledgers.read(
        franchise_id, outlet_id, _stock_view(franchise_id, outlet_id)
    )
    result: dict[str, Any] = view
    return result


async def put_par_levels(
    supply: SupplyContext, who: Principal, outlet_id: str, levels: Mapping[str, ParLevel]
) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id)
    known = await supply.repository.ingredients()
    invalid(
        [(f"levels.{i}", "no ingredient with this id", i) for i in sorted(levels) if i not in known]
        + [
            (f"levels.{i}.reorder_at", "must not exceed par", p.reorder_at)
            for i, p in sorted(levels.items())
            if p.reorder_at > p.par
        ]
    )
    await supply.repository.put_par_levels(franchise_id, outlet_id, levels)
    return await par_levels(supply, who, outlet_id)


async def par_levels(supply: SupplyContext, who: Principal, outlet_id: str) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id, STAFF)
    levels = await supply.repository.par_levels(franchise_id, outlet_id)
    return {
        "outlet_id": outlet_id,
        "levels": {
            i: {"par": p.par, "reorder_at": p.reorder_at} for i, p in sorted(levels.items())
        },
    }


async def suggested_purchase_orders(
    supply: SupplyContext, who: Principal, outlet_id: str, token: str | None
) -> dict[str, Any]:
    """Par levels and the analytics forecast over each supplier's lead time (asked with the
    caller's token); par levels alone, saying why, when the forecast cannot be had."""
    franchise_id = await outlet_access(supply, who, outlet_id)
    levels = await supply.repository.par_levels(franchise_id, outlet_id)
    available, _ = await supply.ledgers.read(franchise_id, outlet_id, lambda s: s.availability())
    ingredients = await supply.repository.franchise_ingredients(franchise_id)
    forecast = await supply.forecasts.daily_cups(franchise_id, outlet_id, token)
    basis: dict[str, Any]
    if forecast.unavailable is None:
        lead = {
            s["id"]: int(s.get("lead_time_days", 0))
            for s in await supply.repository.suppliers(franchise_id)
        }
        days_of = {
            i: min(lead.get(x.supplier_id or "", 0), HORIZON_DAYS) for i, x in ingredients.items()
        }
        demand = forecast_use(await supply.repository.cookbook(), forecast.cups, days_of)
        basis = {
            "basis": "forecast",
            "forecast_from": forecast.first_day,
            "forecast_items": sorted(forecast.cups),
        }
    else:
        demand = {}
        basis = {"basis": "par_levels", "forecast_unavailable": forecast.unavailable}
    return {
        "outlet_id": outlet_id,
        **basis,
        "purchase_orders": suggest(levels, available, ingredients, demand),
    }


# --- reservations (the order saga) -------------------------------------------------------


def order_lines(items: list[dict[str, Any]]) -> list[OrderLine]:
    out = []
    for item in items:
        c = item.get("customizations") or {}
        sugar = c.get("sugar_level")
        ice = c.get("ice_level")
        out.append(
            OrderLine(
                menu_id=item["menu_id"],
                quantity=int(item["quantity"]),
                sugar_level=STANDARD_LEVEL if sugar is None else int(sugar),
                ice_level=STANDARD_LEVEL if ice is None else int(ice),
                toppings=tuple(c.get("toppings") or ()),
                size=c.get("size") or DEFAULT_SIZE,
            )
        )
    return out


def _reservation_view(order_id: str, untracked: list[str] | None = None) -> Any:
    def view(ledger: OutletStock) -> dict[str, Any]:
        reservation = ledger.reservations.get(order_id)
        held = reservation.held if reservation else {}
        out: dict[str, Any] = {
            "order_id": order_id,
            "outlet_id": ledger.outlet_id,
            "status": reservation.status if reservation else None,
            "ingredients": [{"ingredient_id": k, "quantity": v} for k, v in sorted(held.items())],
        }
        if untracked is not None:
            out["untracked_items"] = untracked
        return out

    return view


async def reserve(
    supply: SupplyContext, order_id: str, outlet_id: str, items: list[dict[str, Any]]
) -> dict[str, Any]:
    """Hold the order's ingredients by recipe, all or nothing; idempotent on ``order_id``."""
    try:
        franchise_id = await supply.outlets.franchise_of(outlet_id)
    except NotFound:
        invalid([("outlet_id", "no such outlet", outlet_id)])
        raise
    lines = order_lines(items)
    cookbook = await supply.repository.cookbook()
    needs = cookbook.needs(lines)
    place = await supply.repository.place_reservation(order_id, franchise_id, outlet_id)
    if place != (franchise_id, outlet_id):
        raise ReservationElsewhere(
            f"order {order_id} already holds stock at {place[1]}",
            details={"order_id": order_id, "outlet_id": place[1]},
        )
    try:
        _, view = await supply.ledgers.change(
            franchise_id,
            outlet_id,
            lambda s: s.reserve(order_id, needs),
            _reservation_view(order_id, cookbook.untracked(lines)),
        )
    except rules.InsufficientStock as exc:
        short = {s.ingredient_id for s in exc.shortages}
        items_short = sorted({x.menu_id for x in lines if short & set(cookbook.needs([x]))})
        raise InsufficientStock(
            "not enough ingredients for this order; nothing was reserved",
            details={
                "order_id": order_id,
                "outlet_id": outlet_id,
                "items": [{"menu_id": m, "reason": "out_of_ingredients"} for m in items_short],
                "ingredients": [s.as_record() for s in exc.shortages],
            },
        ) from exc
    result: dict[str, Any] = view
    return result


async def settle(supply: SupplyContext, order_id: str, how: str) -> dict[str, Any]:
    place = await supply.repository.reservation_place(order_id)
    if place is None:
        raise ReservationNotFound(
            f"no stock reservation for order {order_id}", details={"order_id": order_id}
        )
    franchise_id, outlet_id = place

    def decide(ledger: OutletStock) -> StockFact | None:
        return ledger.release(order_id) if how == "release" else ledger.commit(order_id)

    try:
        _, view = await supply.ledgers.change(
            franchise_id, outlet_id, decide, _reservation_view(order_id)
        )
    except rules.ReservationNotFound as exc:
        raise ReservationNotFound(str(exc), details={"order_id": order_id}) from exc
    except rules.ReservationClosed as exc:
        raise ReservationClosed(
            str(exc), details={"order_id": order_id, "status": exc.status}
        ) from exc
    result: dict[str, Any] = view
    return result


# --- purchase orders ---------------------------------------------------------------------


def _refused(exc: InvalidTransition) -> TransitionRefused:
    return TransitionRefused(str(exc), details={"status": exc.status, "action": exc.action})


async def _po(
    supply: SupplyContext, franchise_id: str, outlet_id: str, po_id: str
) -> tuple[PurchaseOrder, int]:
    po, seq = await supply.purchase_orders.load(franchise_id, po_id, lambda: PurchaseOrder(po_id))
    if not po.exists or po.outlet_id != outlet_id:
        raise NotFound(f"no purchase order {po_id} at {outlet_id}", details={"po_id": po_id})
    return po, seq


async def draft_purchase_order(
    supply: SupplyContext,
    who: Principal,
    outlet_id: str,
    supplier_id: str,
    expected_delivery: str,
    lines: list[tuple[str, int, int | None]],
) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id)
    ingredients = await supply.repository.franchise_ingredients(franchise_id)
    supplier = await supply.repository.supplier(franchise_id, supplier_id)
    problems: list[tuple[str, str, Any]] = []
    if supplier is None:
        problems.append(("supplier_id", "no such supplier", supplier_id))
    priced = []
    for n, (ingredient_id, packs, price) in enumerate(lines):
        ingredient = ingredients.get(ingredient_id)
        if ingredient is None:
            problems.append(
                (f"lines.{n}.ingredient_id", "no ingredient with this id", ingredient_id)
            )
            continue
        priced.append(
            (
                ingredient_id,
                packs,
                ingredient.unit_cost if price is None else price,
                ingredient.pack_size,
            )
        )
    if len({x[0] for x in lines}) != len(lines):
        problems.append(("lines", "each ingredient may appear once", None))
    invalid(problems)
    po = PurchaseOrder(new_id("po"))
    fact = po.draft(outlet_id, supplier_id, expected_delivery, priced)
    return (await supply.purchase_orders.create(franchise_id, po, fact)).view()


async def get_purchase_order(
    supply: SupplyContext, who: Principal, outlet_id: str, po_id: str
) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id, STAFF)
    po, _ = await _po(supply, franchise_id, outlet_id, po_id)
    return po.view()


async def _po_step(
    supply: SupplyContext, who: Principal, outlet_id: str, po_id: str, step: Any
) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id)
    for _ in range(5):
        po, seq = await _po(supply, franchise_id, outlet_id, po_id)
        try:
            fact = step(po)
        except InvalidTransition as exc:
            raise _refused(exc) from exc
        if fact is None:
            return po.view()
        try:
            await supply.purchase_orders.append(franchise_id, po_id, [fact], seq)
        except ConcurrencyConflict:
            continue
        return (await _po(supply, franchise_id, outlet_id, po_id))[0].view()
    raise Conflict("the purchase order is changing right now; try again")


async def submit_purchase_order(
    supply: SupplyContext, who: Principal, outlet_id: str, po_id: str
) -> dict[str, Any]:
    return await _po_step(supply, who, outlet_id, po_id, lambda po: po.submit())


async def cancel_purchase_order(
    supply: SupplyContext, who: Principal, outlet_id: str, po_id: str, reason: str
) -> dict[str, Any]:
    return await _po_step(supply, who, outlet_id, po_id, lambda po: po.cancel(reason))


async def receive_purchase_order(
    supply: SupplyContext, who: Principal, outlet_id: str, po_id: str, lines: list[tuple[str, int]]
) -> dict[str, Any]:
    """Book a delivery: the PO's receipt is recorded first (an expected-sequence append, so
    two deliveries booked at once cannot both take receipt number n), then its stock is
    booked on the ledger keyed by the receipt id. A crash between the two is repaired by
    the relay, which books every recorded receipt (:func:`book_recorded`); the key makes
    the second booking a no-op."""
    franchise_id = await outlet_access(supply, who, outlet_id)
    packs = await _lines_of_known(supply, lines)
    for _ in range(5):
        po, seq = await _po(supply, franchise_id, outlet_id, po_id)
        try:
            type_, data = po.receive(packs)
        except InvalidTransition as exc:
            raise _refused(exc) from exc
        except OverReceipt as exc:
            invalid(
                (f"lines.{i}", f"{q} packs is more than the {left} outstanding", q)
                for i, q, left in exc.problems
            )
            raise
        try:
            await supply.purchase_orders.append(franchise_id, po_id, [(type_, data)], seq)
        except ConcurrencyConflict:
            continue
        await book_recorded(supply, franchise_id, type_, data)
        return (await _po(supply, franchise_id, outlet_id, po_id))[0].view()
    raise Conflict("the purchase order is changing right now; try again")


async def book_recorded(
    supply: SupplyContext, franchise_id: str, type_: str, data: dict[str, Any]
) -> None:
    """Book the stock a recorded PO receipt or transfer arrival brought (idempotent: keyed
    by the receipt or transfer id). Called after the append, and by the relay."""
    if type_ == PO_RECEIVED:
        ref, outlet_id, source = data["receipt_id"], data["outlet_id"], "purchase_order"
    elif type_ == TRANSFER_RECEIVED:
        ref, outlet_id, source = data["transfer_id"], data["to_outlet_id"], "transfer"
    else:
        return
    units = {x["ingredient_id"]: int(x["quantity"]) for x in data["lines"]}
    if units:
        await _book(supply, franchise_id, outlet_id, _arrival(ref, units, source))


def _arrival(ref: str, units: dict[str, int], source: Any) -> Any:
    return lambda ledger: ledger.receive(ref, units, source)


# --- transfers ---------------------------------------------------------------------------


async def _transfer(
    supply: SupplyContext, franchise_id: str, outlet_id: str, transfer_id: str
) -> tuple[Transfer, int]:
    transfer, seq = await supply.transfers.load(
        franchise_id, transfer_id, lambda: Transfer(transfer_id)
    )
    if not transfer.exists or outlet_id not in (transfer.from_outlet_id, transfer.to_outlet_id):
        raise NotFound(
            f"no transfer {transfer_id} at {outlet_id}", details={"transfer_id": transfer_id}
        )
    return transfer, seq


async def request_transfer(
    supply: SupplyContext,
    who: Principal,
    outlet_id: str,
    to_outlet_id: str,
    lines: list[tuple[str, int]],
) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id)
    try:
        to_franchise = await supply.outlets.franchise_of(to_outlet_id)
    except NotFound:
        invalid([("to_outlet_id", "no such outlet", to_outlet_id)])
        raise
    if to_outlet_id == outlet_id:
        invalid([("to_outlet_id", "an outlet cannot transfer to itself", to_outlet_id)])
    if to_franchise != franchise_id:
        # Stock never crosses franchises: for a franchise's staff the destination is another
        # tenant's outlet (403, logged); HQ is told the rule.
        who.require_franchise(to_franchise)
        raise TransitionRefused(
            "transfers go only between outlets of the same franchise",
            details={"to_outlet_id": to_outlet_id, "reason": "other_franchise"},
        )
    quantities = await _lines_of_known(supply, lines)
    transfer = Transfer(new_id("trf"))
    fact = transfer.request(outlet_id, to_outlet_id, quantities)
    return (await supply.transfers.create(franchise_id, transfer, fact)).view()


async def get_transfer(
    supply: SupplyContext, who: Principal, outlet_id: str, transfer_id: str
) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id, STAFF)
    transfer, _ = await _transfer(supply, franchise_id, outlet_id, transfer_id)
    return transfer.view()


async def ship_transfer(
    supply: SupplyContext, who: Principal, outlet_id: str, transfer_id: str
) -> dict[str, Any]:
    """Stock leaves the source outlet (keyed by the transfer id), then the transfer moves."""
    franchise_id = await outlet_access(supply, who, outlet_id)
    transfer, seq = await _transfer(supply, franchise_id, outlet_id, transfer_id)
    if outlet_id != transfer.from_outlet_id:
        raise TransitionRefused(
            "only the sending outlet ships a transfer", details={"outlet_id": outlet_id}
        )
    try:
        fact = transfer.ship()
    except InvalidTransition as exc:
        raise _refused(exc) from exc
    if fact is None:
        return transfer.view()
    await _book(supply, franchise_id, outlet_id, lambda s: s.ship(transfer_id, transfer.requested))
    # A conflict: another call moved the transfer at the same time; stock was booked once.
    with contextlib.suppress(ConcurrencyConflict):
        await supply.transfers.append(franchise_id, transfer_id, [fact], seq)
    return (await _transfer(supply, franchise_id, outlet_id, transfer_id))[0].view()


async def receive_transfer(
    supply: SupplyContext,
    who: Principal,
    outlet_id: str,
    transfer_id: str,
    lines: list[tuple[str, int]],
) -> dict[str, Any]:
    """What arrived is booked at the destination; shipped - received is the recorded loss."""
    franchise_id = await outlet_access(supply, who, outlet_id)
    transfer, seq = await _transfer(supply, franchise_id, outlet_id, transfer_id)
    if outlet_id != transfer.to_outlet_id:
        raise TransitionRefused(
            "only the receiving outlet receives a transfer", details={"outlet_id": outlet_id}
        )
    got = await _lines_of_known(supply, lines)
    try:
        fact = transfer.receive(got)
    except InvalidTransition as exc:
        raise _refused(exc) from exc
    except OverReceipt as exc:
        invalid(
            (f"lines.{i}", f"{q} is more than the {left} shipped", q) for i, q, left in exc.problems
        )
        raise
    if fact is None:
        return transfer.view()
    # The arrival is recorded first (one expected-sequence append: a second receive racing
    # this one loses and is told the transfer is already received), then booked.
    try:
        await supply.transfers.append(franchise_id, transfer_id, [fact], seq)
    except ConcurrencyConflict as exc:
        raise TransitionRefused(
            "the transfer was received at the same time", details={"transfer_id": transfer_id}
        ) from exc
    await book_recorded(supply, franchise_id, *fact)
    return (await _transfer(supply, franchise_id, outlet_id, transfer_id))[0].view()


async def cancel_transfer(
    supply: SupplyContext, who: Principal, outlet_id: str, transfer_id: str, reason: str
) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id)
    transfer, seq = await _transfer(supply, franchise_id, outlet_id, transfer_id)
    try:
        fact = transfer.cancel(reason)
    except InvalidTransition as exc:
        raise _refused(exc) from exc
    if fact is not None:
        await supply.transfers.append(franchise_id, transfer_id, [fact], seq)
    return (await _transfer(supply, franchise_id, outlet_id, transfer_id))[0].view()


# --- lists ---------------------------------------------------------------------------------


def po_entry(po: PurchaseOrder) -> dict[str, Any]:
    """A purchase order as its lists show it."""
    view = po.view()
    return {
        "id": po.id,
        "outlet_id": po.outlet_id,
        "supplier_id": po.supplier_id,
        "expected_delivery": po.expected_delivery,
        "status": po.status,
        "total_amount": view["total_amount"],
        "created_at": po.history[0]["at"] if po.history else None,
        "updated_at": po.history[-1]["at"] if po.history else None,
    }


def transfer_entry(transfer: Transfer) -> dict[str, Any]:
    return {
        "id": transfer.id,
        "from_outlet_id": transfer.from_outlet_id,
        "to_outlet_id": transfer.to_outlet_id,
        "status": transfer.status,
        "created_at": transfer.history[0]["at"] if transfer.history else None,
        "updated_at": transfer.history[-1]["at"] if transfer.history else None,
    }


async def project_purchase_order(supply: SupplyContext, franchise_id: str, po_id: str) -> None:
    po, _ = await supply.purchase_orders.load(franchise_id, po_id, lambda: PurchaseOrder(po_id))
    if po.exists:
        await supply.po_lists.project(franchise_id, po_entry(po), [f"o:{po.outlet_id}", "f"])


async def project_transfer(supply: SupplyContext, franchise_id: str, transfer_id: str) -> None:
    transfer, _ = await supply.transfers.load(
        franchise_id, transfer_id, lambda: Transfer(transfer_id)
    )
    if transfer.exists:
        scopes = [f"o:{transfer.from_outlet_id}", f"o:{transfer.to_outlet_id}", "f"]
        await supply.transfer_lists.project(franchise_id, transfer_entry(transfer), scopes)


async def _listed(
    lists: DocumentLists, franchise_id: str, scope: str, status: str | None, page: PageRequest[int]
) -> dict[str, Any]:
    """One page, newest first. Without a status: everything still open. An open status's
    cursor is an offset into it; a final status's is the position to continue below."""
    kind = lists.kind
    if status is not None and status not in kind.statuses:
        invalid([("status", f"one of {list(kind.statuses)}", status)])
    if status is None or status in kind.open:
        entries = await lists.open_entries(
            franchise_id, scope, kind.open if status is None else (status,)
        )
        start = page.cursor or 0
        fetched = entries[start : start + page.limit + 1]
        items, cursor = page_of(fetched, page.limit, lambda _: start + page.limit)
    else:
        before = page.cursor
        if before is None:
            before = await lists.final_count(franchise_id, scope, status)
        fetched = await lists.final_entries(franchise_id, scope, status, before, page.limit + 1)
        items, cursor = page_of(fetched, page.limit, lambda _: max(0, before - page.limit))
    return {"items": items, "next_cursor": cursor}


async def list_outlet_documents(
    supply: SupplyContext,
    who: Principal,
    what: str,
    outlet_id: str,
    status: str | None,
    page: PageRequest[int],
) -> dict[str, Any]:
    franchise_id = await outlet_access(supply, who, outlet_id, STAFF)
    lists = supply.po_lists if what == "po" else supply.transfer_lists
    return await _listed(lists, franchise_id, f"o:{outlet_id}", status, page)


async def list_franchise_documents(
    supply: SupplyContext,
    who: Principal,
    what: str,
    franchise_id: str,
    status: str | None,
    page: PageRequest[int],
) -> dict[str, Any]:
    who.require_role(*OWNERS)
    who.require_franchise(franchise_id)
    lists = supply.po_lists if what == "po" else supply.transfer_lists
    return await _listed(lists, franchise_id, "f", status, page)
