"""HTTP routes of the order service."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from bobaku.kernel.auth import OUTLET_STAFF, Role
from bobaku.kernel.errors import BadRequest, Conflict, ValidationFailed
from bobaku.kernel.ids import OUTLET_ID_PATTERN
from bobaku.kernel.openapi import Api
from bobaku.kernel.pagination import PAGE_QUERY as LIST_QUERY
from bobaku.kernel.pagination import as_int, page_of, page_request, query_date
from bobaku.kernel.web import RequestBody, ok, principal, read_json
from bobaku.services.order.domain import commands
from bobaku.services.order.domain.commands import (
    CancelOrder,
    KitchenMove,
    MoveInKitchen,
    RefundOrder,
)
from bobaku.services.order.domain.model import Status, view
from bobaku.services.order.service_layer import handlers
from bobaku.services.order.service_layer.context import OrderContext

api = Api("order", "Orders, the order saga, the kitchen queue and order history")
CONTEXT = web.AppKey("order_context", OrderContext)

Provider = Literal["gopay", "ovo", "dana", "shopeepay", "qris", "card"]


class Customizations(RequestBody):
    sugar_level: int | None = None
    ice_level: int | None = None
    toppings: list[str] = Field(default_factory=list, max_length=10)


class OrderItem(RequestBody):
    menu_id: str = Field(min_length=1, max_length=20)
    quantity: int = Field(ge=1, le=20)
    customizations: Customizations = Field(default_factory=Customizations)


class PlaceOrder(RequestBody):
    outlet_id: str = Field(pattern=OUTLET_ID_PATTERN)
    items: list[OrderItem] = Field(min_length=1, max_length=30)
    payment_method: Provider
    reward_ids: list[str] = Field(default_factory=list, max_length=5)


class Reason(RequestBody):
    reason: str = Field(default="", max_length=200)


class Refund(RequestBody):
    amount: int | None = Field(default=None, ge=1)
    reason: str = Field(min_length=1, max_length=200)


class OrderView(BaseModel):
    """See ``domain.model.view``; documented loosely here, the gateway composes the rest."""

    id: str
    franchise_id: str
    outlet_id: str
    customer_id: str
    created_at: str | None
    outlet: dict[str, Any]
    items: list[dict[str, Any]]
    total_amount: int
    payment: dict[str, Any]
    status: dict[str, Any]
    loyalty: dict[str, Any]


class OrderPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class TicketLine(BaseModel):
    menu_id: str
    name: str
    quantity: int
    station: str | None
    sugar_level: int | None = Field(description="percent")
    ice_level: int | None = Field(description="percent")
    toppings: list[str] = Field(description="names")


class KitchenTicket(BaseModel):
    """See ``domain.kitchen.ticket``: what the kitchen display shows of an order."""

    order_id: str
    outlet_id: str
    status: Literal["being_prepared", "ready"]
    started_at: str = Field(description="when the kitchen first got it; a recall keeps it")
    ready_at: str | None
    estimated_completion: str | None
    stations: list[str]
    lines: list[TicketLine]


class TicketPage(BaseModel):
    items: list[KitchenTicket]
    next_cursor: str | None


def _ctx(request: web.Request) -> OrderContext:
    return request.app[CONTEXT]


@api.post(
    "/orders",
    body=PlaceOrder,
    response=OrderView,
    status=201,
    summary="Place an order (Idempotency-Key header makes a retry safe)",
    errors=(404, 409),
)
async def place_order(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, PlaceOrder)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 100):
        raise BadRequest(
            "Idempotency-Key must be 1-100 characters", details={"field": "Idempotency-Key"}
        )
    cmd = commands.PlaceOrder(
        customer_id=who.subject,
        outlet_id=body.outlet_id,
        items=[item.model_dump() for item in body.items],
        payment_method=body.payment_method,
        reward_ids=body.reward_ids,
        idempotency_key=key,
    )
    order = await handlers.place_order(_ctx(request), who, cmd)
    if order.status == Status.CANCELLED and order.stock == "rejected":
        raise Conflict(
            "some items are sold out at this outlet",
            details={"order_id": order.id, "reason": order.cancel_reason},
        )
    return ok(view(order), status=201)


@api.get("/orders/{order_id}", response=OrderView, summary="One order", errors=(404,))
async def get_order(request: web.Request) -> web.Response:
    who = principal(request)
    order = await handlers.find_order(_ctx(request), request.match_info["order_id"])
    handlers.authorize_view(who, order)
    return ok(view(order))


PAGE_QUERY = (("status", "string", "only orders in this status"), *LIST_QUERY)


@api.get("/orders", response=OrderPage, summary="My order history", query=PAGE_QUERY)
async def my_orders(request: web.Request) -> web.Response:
    who = principal(request)
    who.require_role(Role.CUSTOMER)
    status = request.query.get("status")
    limit, start = _limits(request)
    docs = await _ctx(request).views.history(
        who.subject, _status(status) if status else None, start=start, limit=limit
    )
    items, next_cursor = page_of(docs, limit, lambda _: start + limit)
    return ok({"items": items, "next_cursor": next_cursor})


@api.get(
    "/outlets/{outlet_id}/orders",
    response=OrderPage,
    summary="An outlet's orders (staff, owner, HQ)",
    query=(*PAGE_QUERY, ("date", "string", "YYYY-MM-DD (UTC)")),
)
async def outlet_orders(request: web.Request) -> web.Response:
    who = principal(request)
    outlet_id = request.match_info["outlet_id"]
    franchise_id = await _outlet_franchise(request, who, outlet_id)
    status = request.query.get("status")
    limit, start = _limits(request)
    docs = await _ctx(request).views.outlet_page(
        franchise_id,
        outlet_id,
        status=_status(status) if status else None,
        date=query_date(request.query),
        start=start,
        limit=limit,
    )
    items, next_cursor = page_of(docs, limit, lambda _: start + limit)
    return ok({"items": items, "next_cursor": next_cursor})


@api.get(
    "/outlets/{outlet_id}/kitchen",
    response=TicketPage,
    summary="Kitchen tickets: being prepared and ready, oldest first",
    query=(("station", "string", "only tickets with an item for this station"),),
)
async def kitchen_queue(request: web.Request) -> web.Response:
    who = principal(request)
    outlet_id = request.match_info["outlet_id"]
    franchise_id = await _outlet_franchise(request, who, outlet_id)
    docs = await _ctx(request).views.kitchen_queue(
        franchise_id, outlet_id, request.query.get("station")
    )
    tickets = [doc["ticket"] for doc in docs if doc.get("ticket")]
    return ok({"items": tickets, "next_cursor": None})


async def _outlet_franchise(request: web.Request, who: Any, outlet_id: str) -> str:
    """The outlet's franchise, once the caller is allowed there (403, logged,
    for another franchise's outlet: never an empty list from the wrong database)."""
    who.require_role(*OUTLET_STAFF)
    ctx = request.app[CONTEXT]
    franchise_id = await ctx.menu.franchise_of(outlet_id)
    who.require_outlet(franchise_id, outlet_id)
    return franchise_id


def _status(value: str) -> str:
    try:
        return str(Status(value))
    except ValueError as exc:
        raise ValidationFailed(
            "unknown status",
            details={
                "fields": [{"field": "status", "problem": f"one of {[s.value for s in Status]}"}]
            },
        ) from exc


def _limits(request: web.Request) -> tuple[int, int]:
    """``?limit=`` and ``?cursor=`` (an offset into the list); 422 naming the bad one."""
    page = page_request(request.query, as_int)
    return page.limit, page.cursor or 0


@api.post(
    "/orders/{order_id}/cancel",
    body=Reason,
    response=OrderView,
    summary="Cancel an unpaid order",
    errors=(404, 409),
)
async def cancel_order(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, Reason)
    cmd = CancelOrder(request.match_info["order_id"], body.reason or "cancelled")
    order = await handlers.cancel_order(_ctx(request), who, cmd)
    return ok(view(order))


async def _kitchen_step(request: web.Request, move: KitchenMove) -> web.Response:
    cmd = MoveInKitchen(request.match_info["order_id"], move)
    order = await handlers.kitchen_step(_ctx(request), principal(request), cmd)
    return ok(view(order))


@api.post(
    "/orders/{order_id}/bump",
    response=OrderView,
    summary="Kitchen: the order is ready",
    errors=(404, 409),
)
async def bump_order(request: web.Request) -> web.Response:
    return await _kitchen_step(request, "bump")


@api.post(
    "/orders/{order_id}/recall",
    response=OrderView,
    summary="Kitchen: back to preparing",
    errors=(404, 409),
)
async def recall_order(request: web.Request) -> web.Response:
    return await _kitchen_step(request, "recall")


@api.post(
    "/orders/{order_id}/complete",
    response=OrderView,
    summary="Handed to the customer",
    errors=(404, 409),
)
async def complete_order(request: web.Request) -> web.Response:
    return await _kitchen_step(request, "complete")


@api.post(
    "/orders/{order_id}/refund",
    body=Refund,
    summary="Refund a paid order, fully or partly (Idempotency-Key header required)",
    status=202,
    errors=(404, 409),
)
async def refund_order(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, Refund)
    key = request.headers.get("Idempotency-Key")
    if not key:
        raise BadRequest(
            "a refund needs an Idempotency-Key header", details={"field": "Idempotency-Key"}
        )
    token = request.headers["Authorization"].partition(" ")[2]
    cmd = RefundOrder(request.match_info["order_id"], body.reason, key, body.amount)
    refund = await handlers.refund_order(_ctx(request), who, token, cmd)
    return ok(refund, status=202)
