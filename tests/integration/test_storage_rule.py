"""The storage rule, checked on the wire: while orders go the whole way (POST, payment,
kitchen steps, a refund, a failed payment) and every list page is read, no process sends
MongoDB a command that FerretDB 1.24 answers by scanning a collection that grows with
history — a filter, sort or count on a field other than ``_id``, any update or replace of a
document, and (FerretDB's SQLite backend ignores its ``_id`` index) any read, even by
``_id``, outside the named remaining ones (docs/architecture.md, "The storage rule").

Every platform process runs with a PyMongo command listener (``MONGODB_COMMAND_LOG``,
``kernel.db.CommandLog``) that writes a summary of each command it sends; this test reads
what they sent during its own window. Collections are growing unless allow-listed below,
each with the reason it is bounded.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from support import ARTIFACTS, RunningPlatform, call, customer_token, eventually

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.services.menu.adapters import repository as menu
from bobaku.services.menu.adapters import supply_availability as menu_supply
from bobaku.services.payment.adapters import documents as payment
from bobaku.services.supply.adapters import repository as supply

COMMAND_LOG = ARTIFACTS / "mongo-commands"

# Collections whose size does not grow with orders, payments or loyalty events.
BOUNDED = {
    # The menu service's catalog (read whole and cached by the menu service).
    menu.ITEMS: "the brand's menu (tens of items)",
    menu.CATEGORIES: "the menu's categories",
    menu.TOPPINGS: "the menu's toppings",
    menu.OUTLETS: "one document per outlet",
    menu.FRANCHISE_PRICES: "one per menu item a franchise re-prices",
    menu.OUTLET_AVAILABILITY: "one per outlet",
    menu_supply.UNAVAILABLE: "one per outlet",
    # The supply service's catalog and per-outlet settings.
    supply.INGREDIENTS: "the brand's ingredients",
    supply.RECIPES: "one per menu item",
    supply.TOPPING_RECIPES: "one per topping",
    supply.SUPPLIERS: "a franchise's suppliers",
    supply.OVERRIDES: "one per ingredient a franchise overrides",
    supply.PAR_LEVELS: "one per outlet",
    # The payment service's outlet -> franchise pairs (an _id range per listing).
    payment.OUTLETS: "one per outlet and franchise it took payments for",
    payment.FRANCHISES: "one per franchise",
}

# Reads by exact _id of growing collections that are still sent to MongoDB: FerretDB 1.24
# (SQLite) does not use its _id index either (``explain``: SCAN), so each is a scan too.
# The order and payment services read theirs through Redis (kernel.listings.
# WriteOnceDocuments); these remain, each named with its owner (docs/performance.md).
READ_BY_ID_REMAINING = {
    "supply_reservation_places": "supply: a reservation place this process did not write",
    "notifications": "notification: a record's state, per attempt",
    "users": "customer: the card (order view, notifications); grows with customers, not orders",
}

# Whole-collection reads that some service's background loop makes, not the order path nor
# a list page; each is named with why it is there (docs/performance.md lists them).
BACKGROUND = {
    ("users", ("_outbox",)): "the customer outbox relay, every 30 s: grows with customers",
}


async def place(http: aiohttp.ClientSession, platform: RunningPlatform, token: str,
                provider: str, outcome: str) -> str:  # fmt: skip
    status, reply = await call(
        http, "POST", f"{platform.url('provider-sim')}/_control/{provider}/next",
        json={"outcome": outcome, "delay_s": 0.1},
    )  # fmt: skip
    assert status in (200, 201), reply
    item = {"menu_id": "m001", "quantity": 1, "customizations": {"toppings": ["t001"]}}
    body = {"outlet_id": "outlet-01", "items": [item], "payment_method": provider}
    status, placed = await call(
        http, "POST", f"{platform.gateway}/api/v1/orders", token,
        json=body, headers={"Idempotency-Key": secrets.token_hex(8)},
    )  # fmt: skip
    assert status == 201, placed
    return str(placed["data"]["id"])


async def reaches(
    http: aiohttp.ClientSession, gw: str, token: str, order_id: str, wanted: str
) -> None:
    async def probe() -> Any:
        status, body = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", token)
        assert status == 200, body
        return body["data"]["order"]["status"]["current"] == wanted or None

    await eventually(probe, timeout=30, interval=0.2)


def _offsets() -> dict[Path, int]:
    return {path: path.stat().st_size for path in COMMAND_LOG.glob("*.jsonl")}


def _commands_since(offsets: dict[Path, int]) -> Iterator[dict[str, Any]]:
    for path in sorted(COMMAND_LOG.glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            lines.seek(offsets.get(path, 0))
            for line in lines:
                if line.endswith("\n"):
                    yield json.loads(line)


def scans(command: dict[str, Any]) -> str | None:
    """Why FerretDB would scan the collection for ``command`` (None: by key only)."""
    op = command["op"]
    if "coll" not in command:
        return None  # not a data command (hello, ping, createIndexes, getMore...)
    if op in ("update", "findAndModify", "findandmodify"):
        return "updates or replaces a stored document"
    if op in ("count", "aggregate", "distinct"):
        return f"{op} reads the whole collection"
    if op == "insert":
        return None
    fields = [f for f in command.get("fields", []) if f != "_id"]
    if fields:
        return f"filters on {fields}"
    if [s for s in command.get("sort", []) if s != "_id"]:
        return f"sorts on {command['sort']}"
    if not command.get("by_id"):
        return "reads without an exact _id"
    if command["coll"] not in READ_BY_ID_REMAINING:
        return "reads by _id (FerretDB 1.24 scans for it too)"
    return None


def offenders(commands: list[dict[str, Any]]) -> list[str]:
    found = []
    for command in commands:
        reason = scans(command)
        if reason is None or command["coll"] in BOUNDED:
            continue
        if (command["coll"], tuple(command.get("fields", []))) in BACKGROUND:
            continue
        found.append(f"{command['process']}: {command['op']} {command['coll']}: {reason}")
    return sorted(set(found))


def test_the_check_catches_what_ferretdb_scans_for() -> None:
    """The classifier itself: each shape FerretDB scans for is caught, keyed reads are not."""
    base = {"db": "x", "coll": "orders", "process": "order"}
    caught = [
        {**base, "op": "find", "fields": ["outlet_id"], "by_id": False, "sort": []},
        {**base, "op": "find", "fields": ["_id"], "by_id": True, "sort": ["created_at"]},
        {**base, "op": "find", "fields": [], "by_id": False, "sort": []},
        {**base, "op": "count", "fields": ["status"], "by_id": False},
        {**base, "op": "update", "fields": ["_id"], "by_id": True, "upsert": True},
        {**base, "op": "delete", "fields": ["due_at"], "by_id": False},
    ]
    caught.append({**base, "op": "find", "fields": ["_id"], "by_id": True, "sort": []})
    passed = [
        {
            **base,
            "op": "find",
            "fields": ["_id"],
            "by_id": True,
            "sort": [],
            "coll": "notifications",
        },
        {**base, "op": "insert", "n": 1},
        {**base, "op": "find", "fields": ["outlet_id"], "coll": menu.ITEMS, "sort": []},
        {"op": "getMore", "db": "x", "process": "order"},
    ]
    assert len(offenders(caught)) == len(caught)
    assert offenders(passed) == []


async def test_orders_end_to_end_touch_growing_collections_by_key_only(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    gw = platform.gateway
    token = await customer_token(http, gw)  # registration is not the order path
    outlet = {"franchise_id": "fr-jakarta", "outlet_ids": ["outlet-01"]}
    barista = token_issuer.issue("u-barista-test", [Role.STAFF], **outlet)
    boss = token_issuer.issue("u-manager-test", [Role.OUTLET_MANAGER], **outlet)
    owner = token_issuer.issue("u-owner-test", [Role.FRANCHISE_OWNER], franchise_id="fr-jakarta")
    start = _offsets()
    assert start, "the platform's processes write no command log"

    # Paid, through the kitchen (with a recall), handed over; then refunded.
    placed = [await place(http, platform, token, p, "success") for p in ("gopay", "qris")]
    for order_id in placed:
        await reaches(http, gw, token, order_id, "being_prepared")
    first, second = placed
    for action in ("bump", "recall", "bump", "complete"):
        status, body = await call(http, "POST", f"{gw}/api/v1/orders/{first}/{action}", barista)
        assert status == 200, body
    status, body = await call(
        http, "POST", f"{gw}/api/v1/orders/{second}/refund", boss,
        json={"reason": "spilled"}, headers={"Idempotency-Key": secrets.token_hex(6)},
    )  # fmt: skip
    assert status == 202, body
    await reaches(http, gw, token, second, "refunded")
    # A failed payment cancels its order.
    failed = await place(http, platform, token, "ovo", "failure")
    await reaches(http, gw, token, failed, "cancelled")

    # Every list page (and the projections behind them have caught up).
    today = datetime.now(UTC).date().isoformat()

    async def history_complete() -> Any:
        status, body = await call(http, "GET", f"{gw}/api/v1/orders?limit=2", token)
        assert status == 200, body
        status, rest = await call(
            http, "GET", f"{gw}/api/v1/orders?limit=2&cursor={body['data']['next_cursor']}", token
        )
        ids = [o["id"] for o in body["data"]["items"] + rest["data"]["items"]]
        return sorted(ids) == sorted([*placed, failed]) or None

    await eventually(history_complete, timeout=20)
    pages = [
        (token, "/api/v1/orders?status=completed"),
        (barista, "/api/v1/outlets/outlet-01/orders?limit=5"),
        (barista, f"/api/v1/outlets/outlet-01/orders?date={today}&status=completed"),
        (barista, "/api/v1/outlets/outlet-01/kitchen"),
        (barista, "/api/v1/outlets/outlet-01/kitchen?station=tea_bar"),
        (owner, "/api/v1/payments?limit=3"),
        (owner, "/api/v1/payments?outlet_id=outlet-01&status=refunded"),
        (boss, "/api/v1/payments?provider=gopay"),
        (owner, f"/api/v1/reports/settlement?date={today}"),
        (token, "/api/v1/me/loyalty?limit=2"),
        (token, f"/api/v1/orders/{first}"),
    ]
    for who, path in pages:
        status, body = await call(http, "GET", gw + path, who)
        assert status == 200, (path, body)

    async def loyalty_reversed() -> Any:
        _, body = await call(http, "GET", f"{gw}/api/v1/me/loyalty", token)
        kinds = [e["kind"] for e in body["data"]["history"]["items"]]
        return "points_reversed" in kinds or None

    await eventually(loyalty_reversed, timeout=20)

    commands = list(_commands_since(start))
    seen = {(c["process"], c.get("coll")) for c in commands if c.get("coll")}
    # The window really covers the order path: the directory, the intents, the supply.
    assert {("order", "order_directory"), ("payment", "payment_intents")} <= seen, seen
    assert offenders(commands) == []
