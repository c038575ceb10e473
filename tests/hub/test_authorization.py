"""Every subscription is authorized; a refusal is a clear error reply.

The order and menu services are peer services the hub asks (``GET /orders/{id}`` with the
client's token, ``GET /outlets/{id}``). They are built by other teams, so these tests, and
only these, run a tiny stand-in for those two endpoints, answering as the contract says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import jwt
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from hub_testing import HubClient, HubProcess, Producers, Tokens, new_id

Clients = Callable[..., Awaitable[HubClient]]


@dataclass
class PeerServices:
    """Stand-in for the order service's ``GET /orders/{id}`` and the menu service's
    ``GET /outlets/{id}`` (peer services, not our code under test)."""

    order_readers: dict[str, set[str]] = field(default_factory=dict)  # order → user ids
    outlet_franchise: dict[str, str] = field(default_factory=dict)
    order_calls: list[str] = field(default_factory=list)
    broken_orders: set[str] = field(default_factory=set)
    url: str = ""

    async def get_order(self, request: web.Request) -> web.Response:
        order_id = request.match_info["id"]
        self.order_calls.append(order_id)
        if order_id in self.broken_orders:
            return web.json_response({"status": "error"}, status=503)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token:
            return web.json_response({"status": "error"}, status=401)
        user = jwt.decode(token, options={"verify_signature": False})["sub"]
        readers = self.order_readers.get(order_id)
        if readers is None:
            return web.json_response({"status": "error"}, status=404)
        if user not in readers:
            return web.json_response({"status": "error"}, status=403)
        return web.json_response({"status": "success", "data": {"id": order_id}})

    async def get_outlet(self, request: web.Request) -> web.Response:
        outlet_id = request.match_info["id"]
        franchise = self.outlet_franchise.get(outlet_id)
        if franchise is None:
            return web.json_response({"status": "error"}, status=404)
        return web.json_response(
            {"status": "success", "data": {"id": outlet_id, "franchise_id": franchise}}
        )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def peers() -> AsyncIterator[PeerServices]:
    peers = PeerServices()
    app = web.Application()
    app.router.add_get("/orders/{id}", peers.get_order)
    app.router.add_get("/outlets/{id}", peers.get_outlet)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    peers.url = str(server.make_url("")).rstrip("/")
    yield peers
    await server.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def hub(peers: PeerServices, start_hub: Callable[..., Awaitable[HubProcess]]) -> HubProcess:
    return await start_hub(
        "authz", ORDER_URL=peers.url, MENU_URL=peers.url, HUB_ORDER_ACCESS_CACHE_S="60"
    )


async def _code(client: HubClient, channel: str) -> str:
    reply = await client.subscribe(channel)
    return "ok" if "result" in reply else reply["error"]["code"]


async def test_a_customer_follows_their_own_order_and_no_one_elses(
    hub: HubProcess, peers: PeerServices, clients: Clients, tokens: Tokens, producers: Producers
) -> None:
    franchise, outlet, mine, theirs = new_id("fr"), new_id("outlet"), new_id("ord"), new_id("ord")
    peers.order_readers[mine] = {"u-owner000001"}
    peers.order_readers[theirs] = {"u-someone0002"}
    customer = await clients(hub, tokens.customer("u-owner000001"))
    assert await _code(customer, f"order:{mine}") == "ok"
    refused = await customer.subscribe(f"order:{theirs}")
    assert refused["error"]["code"] == "forbidden"
    assert refused["error"]["message"].startswith(f"not allowed on order:{theirs}")
    assert await _code(customer, f"order:{new_id('ord')}") == "forbidden"  # unknown order

    event = await producers.order_event(
        franchise, mine, "order.being_prepared", outlet_id=outlet, customer_id="u-owner000001"
    )
    (pub,) = await customer.publications(1, f"order:{mine}")
    assert pub["data"]["id"] == event.id


async def test_an_order_answer_is_reused_for_the_same_user_for_a_while(
    hub: HubProcess, peers: PeerServices, clients: Clients, tokens: Tokens
) -> None:
    order_id = new_id("ord")
    peers.order_readers[order_id] = {"u-repeat00001"}
    for _ in range(3):
        client = await clients(hub, tokens.customer("u-repeat00001"))
        assert await _code(client, f"order:{order_id}") == "ok"
        await client.close()
    assert peers.order_calls.count(order_id) == 1


async def test_when_the_order_service_cannot_answer_the_subscription_is_unavailable_not_allowed(
    hub: HubProcess, peers: PeerServices, clients: Clients, tokens: Tokens
) -> None:
    order_id = new_id("ord")
    peers.broken_orders.add(order_id)
    client = await clients(hub, tokens.customer("u-1"))
    reply = await client.subscribe(f"order:{order_id}")
    assert reply["error"]["code"] == "unavailable"
    assert (
        await hub.metric(
            "bobaku_hub_subscribe_refusals_total", namespace="order", code="unavailable"
        )
        >= 1
    )


async def test_a_kitchen_is_for_its_outlets_staff_and_its_franchise_owner(
    hub: HubProcess, peers: PeerServices, clients: Clients, tokens: Tokens
) -> None:
    franchise, other_franchise = new_id("fr"), new_id("fr")
    outlet, other_outlet = new_id("outlet"), new_id("outlet")
    peers.outlet_franchise[outlet] = franchise
    kitchen = f"outlet:{outlet}:kitchen"
    assert await _code(await clients(hub, tokens.staff(outlet, franchise)), kitchen) == "ok"
    assert await _code(await clients(hub, tokens.owner(franchise)), kitchen) == "ok"
    assert await _code(await clients(hub, tokens.hq()), kitchen) == "ok"
    assert (
        await _code(await clients(hub, tokens.staff(other_outlet, franchise)), kitchen)
        == "forbidden"
    )
    assert await _code(await clients(hub, tokens.owner(other_franchise)), kitchen) == "forbidden"
    assert await _code(await clients(hub, tokens.customer("u-1")), kitchen) == "forbidden"
    unknown = f"outlet:{new_id('outlet')}:kitchen"  # the menu service does not know it
    assert await _code(await clients(hub, tokens.owner(franchise)), unknown) == "forbidden"


async def test_operations_are_for_the_franchise_owner_and_hq(
    hub: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    franchise = new_id("fr")
    ops = f"franchise:{franchise}:ops"
    assert await _code(await clients(hub, tokens.owner(franchise)), ops) == "ok"
    assert await _code(await clients(hub, tokens.hq()), ops) == "ok"
    assert await _code(await clients(hub, tokens.owner(new_id("fr"))), ops) == "forbidden"
    assert await _code(await clients(hub, tokens.staff("outlet-1", franchise)), ops) == "forbidden"
    assert await _code(await clients(hub, tokens.customer("u-1")), ops) == "forbidden"


async def test_an_inbox_is_readable_only_by_its_user(
    hub: HubProcess, clients: Clients, tokens: Tokens
) -> None:
    assert await _code(await clients(hub, tokens.customer("u-me")), "user:u-me:inbox") == "ok"
    assert (
        await _code(await clients(hub, tokens.customer("u-me")), "user:u-you:inbox") == "forbidden"
    )
    assert await _code(await clients(hub, tokens.hq()), "user:u-me:inbox") == "forbidden"
