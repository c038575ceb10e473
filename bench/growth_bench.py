"""Growth benchmark: the same order load with 0, 10,000 and 100,000 orders already stored.

    make bench-growth                    # BENCH_ARGS="--levels 0,10000" for a shorter run

The question it answers: does an order cost more, and does a list page take longer, when
the platform holds more history? (docs/performance.md, "Growth"; the storage rule of
docs/architecture.md is why it should not.)

What runs:

1. the platform's processes (customer, menu, supply, payment, order, the provider simulator
   in ``instant`` mode, the gateway) with this run's database prefix, deployment id and
   keys, every one logging its MongoDB commands (``MONGODB_COMMAND_LOG``); the demo brand is
   seeded, its outlets opened around the clock and stocked far beyond the run, and
   :data:`CUSTOMERS` customers registered;
2. per level, in order: the stored history is brought up to the level by the generator
   (below) while the platform is stopped; the run's durable consumers are deleted, so the
   platform starts with consumers at the streams' ends (``CONSUMERS_START_AT=new``), as a
   deployment would that has processed its history; then
   - the order load: :data:`CONCURRENCY` customers each placing an order through the
     gateway (one drink, GoPay), waiting until the kitchen has it (``order.being_prepared``
     seen on ``es.order.>``; a bump that comes a moment before the event is stored is
     pressed again), then a barista bumps it and hands it over (two more requests):
     POST, saga, payment callback, kitchen steps, projections;
   - the list load: the list pages, each read in turn: an outlet's orders (all, of today, by
     status), a customer's history (a customer with 1/:data:`CUSTOMERS` of everything
     stored), the kitchen board, the franchise's payments (all, by outlet) and a customer's
     loyalty page.
3. the generator: clones of orders the level-0 load completed (one per outlet, so every
   shape is real: the events as the services wrote them), each with new order, intent and
   event ids and one of the run's customers, written where the services would have put
   them: the order's and its payment's events appended to ``ES_ORDER``/``ES_PAYMENT`` (one
   message each, as an aggregate commits), the read models through the services' own
   projection code (``OrderViews``, ``PaymentViews``, ``SettlementCounters`` on Redis), and
   the documents the order path reads by ``_id`` inserted into MongoDB (order directory,
   idempotency keys, payment intents, supply reservation places). Loyalty ledgers are not
   generated (they grow per customer, not with the platform's history).

Per order it reports the CPU of every process (services, FerretDB, NATS, Redis: from
/proc, over the order load's window divided by the orders it completed) and the counts of
what an order does: events appended (stream messages), aggregate loads and the messages they
read, MongoDB commands (from the command logs), Redis commands (``INFO``), HTTP requests
between services (``bobaku_http_requests_total`` minus the client's), JetStream API
requests. Ratios are to the level-0 run of the same invocation. The servers are this
checkout's test servers (``make bench-growth`` starts them): their CPU is ours alone.
The run is bounded (:data:`DEADLINE_S`), stops what it started and drops its databases,
durable consumers and Redis keys.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import nats
import ordering_bench as ob
from nats.aio.msg import Msg

from bobaku.kernel.auth import Role, private_key_pem, public_key_pem
from bobaku.kernel.bus import BATCH_HEADER, EventBus
from bobaku.kernel.cache import redis_from_settings
from bobaku.kernel.errors import ConcurrencyConflict
from bobaku.kernel.events import Event
from bobaku.kernel.events.envelope import new_event_id, parse_utc
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.listings import Listings, Tallies
from bobaku.kernel.settings import Settings
from bobaku.services.order.domain.model import Order, apply
from bobaku.services.order.service_layer.views import OrderViews
from bobaku.services.payment.adapters.documents import INTENTS
from bobaku.services.payment.adapters.read_models import PaymentViews, SettlementCounters
from bobaku.services.payment.adapters.repository import domain_events
from bobaku.services.payment.domain.ids import intent_id_for
from bobaku.services.payment.domain.model import replay
from bobaku.services.payment.domain.settlement import settlement_line
from bobaku.services.payment.service_layer.views import payment_view

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
COMMAND_LOG = ROOT / ".run" / "bench" / "growth" / "mongo-commands"
BEGIN, END = "<!-- growth-bench:start -->", "<!-- growth-bench:end -->"
COMMAND = "make bench-growth"

LEVELS = (0, 10_000, 100_000)
CONCURRENCY = 4
ORDER_S = 25.0
LIST_S = 12.0
CUSTOMERS = 8
GENERATE_IN_FLIGHT = 48
DEADLINE_S = 1500  # the whole run; generation stops in time to measure its level
LEVEL_RESERVE_S = 330
TIMEOUT_S = 30.0
JAKARTA = ZoneInfo("Asia/Jakarta")


def log(line: str) -> None:
    print(f"[growth] {line}", file=sys.stderr, flush=True)


# -- the order load ------------------------------------------------------------------------


BUMP_TRIES = 20  # a bump refused as payment_completed is tried again, 50 ms apart


class KitchenWatch:
    """When each order's events of interest were stored (core NATS on ``es.order.>``)."""

    WANTED = (b"order.being_prepared", b"order.payment_failed", b"order.cancelled")

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self.waiters: dict[tuple[str, str], asyncio.Future[float]] = {}

    async def on_message(self, msg: Msg) -> None:
        if not any(w in msg.data for w in self.WANTED):
            return
        now = time.perf_counter()
        raw = json.loads(msg.data)
        for event in raw if msg.headers and msg.headers.get(BATCH_HEADER) else [raw]:
            order_id = event.get("data", {}).get("order_id")
            kind = event.get("type")
            if kind in ("order.payment_failed", "order.cancelled"):
                kind = "order.being_prepared"  # wakes the waiter, which then fails the bump
            key = (order_id, kind)
            self.seen.setdefault(key, now)
            waiter = self.waiters.get(key)
            if waiter is not None and not waiter.done():
                waiter.set_result(now)

    async def wait(self, order_id: str, kind: str) -> float:
        key = (order_id, kind)
        if key in self.seen:
            return self.seen[key]
        waiter = asyncio.get_running_loop().create_future()
        self.waiters[key] = waiter
        try:
            return await asyncio.wait_for(waiter, TIMEOUT_S)
        finally:
            del self.waiters[key]


@dataclass
class Window:
    """What a load did: operations completed, their latencies, CPU per process (seconds)."""

    completed: int = 0
    errors: int = 0
    first_error: str = ""
    elapsed_s: float = 0.0
    latencies_s: dict[str, list[float]] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)


def p99_ms(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] * 1000 if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[98] * 1000


async def timed_load(
    operation: Callable[[int], Awaitable[tuple[str, float]]],
    seconds: float,
    cpu: ob.CpuMeter,
) -> Window:
    """:data:`CONCURRENCY` workers for ``seconds``; the CPU window closes when the last
    operation in flight ends, so every CPU second belongs to a counted operation."""
    window = Window()
    stop_at = time.perf_counter() + seconds
    counter = iter(range(10**9))
    before = {name: cpu.seconds(pid) for name, pid in cpu.pids.items()}
    begin = time.perf_counter()

    async def worker() -> None:
        for i in counter:
            if time.perf_counter() >= stop_at:
                return
            try:
                name, latency = await operation(i)
            except Exception as exc:
                window.errors += 1
                window.first_error = window.first_error or f"{type(exc).__name__}: {exc}"[:300]
                continue
            window.completed += 1
            window.latencies_s.setdefault(name, []).append(latency)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    window.elapsed_s = time.perf_counter() - begin
    window.cpu_s = {name: cpu.seconds(pid) - before[name] for name, pid in cpu.pids.items()}
    return window


@dataclass
class Actors:
    gateway: str
    customers: list[str]  # tokens
    customer_ids: list[str]
    baristas: dict[str, str]  # outlet -> token
    owners: dict[str, str]  # franchise -> token


def order_operation(
    session: aiohttp.ClientSession, actors: Actors, watch: KitchenWatch, placed: list[str]
) -> Callable[[int], Awaitable[tuple[str, float]]]:
    async def post(url: str, token: str, body: Any = None, key: bool = False) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        if key:
            headers["Idempotency-Key"] = secrets.token_hex(8)
        async with session.post(url, json=body, headers=headers) as resp:
            reply = await resp.json(content_type=None)
            if resp.status not in (200, 201):
                raise RuntimeError(f"POST {url}: {resp.status} {reply}")
            return reply["data"]

    async def operation(i: int) -> tuple[str, float]:
        outlet = ob.OUTLETS[i % len(ob.OUTLETS)]
        begin = time.perf_counter()
        order = await post(
            f"{actors.gateway}/api/v1/orders",
            actors.customers[i % len(actors.customers)],
            {"outlet_id": outlet, "items": [ob.ORDER_ITEM], "payment_method": "gopay"},
            key=True,
        )
        await watch.wait(order["id"], "order.being_prepared")
        for step in ("bump", "complete"):
            url = f"{actors.gateway}/api/v1/orders/{order['id']}/{step}"
            for attempt in range(BUMP_TRIES):
                try:
                    await post(url, actors.baristas[outlet])
                    break
                except RuntimeError as exc:
                    # A core subscriber gets a publish as the stream does, so the watch can
                    # see being_prepared a moment before it is stored, or an append that a
                    # concurrent saga step made fail and takes again: press once more.
                    if "'payment_completed'" not in str(exc) or attempt == BUMP_TRIES - 1:
                        raise
                    await asyncio.sleep(0.05)
        placed.append(order["id"])
        return "order", time.perf_counter() - begin

    return operation


def list_pages(actors: Actors) -> list[tuple[str, str, str]]:
    """(name, path, token) of every list page the load reads."""
    today = datetime.now(UTC).date().isoformat()
    barista = actors.baristas["outlet-01"]
    owner = actors.owners["fr-jakarta"]
    customer = actors.customers[0]
    deep = "/api/v1/outlets/outlet-01/orders?cursor=" + _offset(1000)
    return [
        ("outlet orders", "/api/v1/outlets/outlet-01/orders?limit=20", barista),
        ("outlet orders, today", f"/api/v1/outlets/outlet-01/orders?date={today}", barista),
        ("outlet orders, completed", "/api/v1/outlets/outlet-01/orders?status=completed", barista),
        ("outlet orders, page 51", deep, barista),
        ("customer history", "/api/v1/orders?limit=20", customer),
        ("kitchen board", "/api/v1/outlets/outlet-01/kitchen", barista),
        ("payments", "/api/v1/payments?limit=20", owner),
        ("payments of an outlet", "/api/v1/payments?outlet_id=outlet-01&status=captured", owner),
        ("loyalty page", "/api/v1/me/loyalty?limit=20", customer),
    ]  # fmt: skip


def _offset(n: int) -> str:
    from bobaku.kernel.pagination import encode_cursor

    return encode_cursor(n)


def list_operation(
    session: aiohttp.ClientSession, actors: Actors
) -> Callable[[int], Awaitable[tuple[str, float]]]:
    pages = list_pages(actors)

    async def operation(i: int) -> tuple[str, float]:
        name, path, token = pages[i % len(pages)]
        begin = time.perf_counter()
        async with session.get(
            actors.gateway + path, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET {path}: {resp.status} {body[:200]!r}")
        return name, time.perf_counter() - begin

    return operation


# -- counting what an order does -----------------------------------------------------------


async def counters(
    session: aiohttp.ClientSession, plat: Any, nc: Any, redis: Any, monitor: str | None,
    run: ob.Run,
) -> dict[str, float]:  # fmt: skip
    """Monotonic counts of the platform's work, to subtract around a load."""
    out: dict[str, float] = {}
    js = nc.jetstream(timeout=10)
    for stream in ("ES_ORDER", "ES_PAYMENT", "ES_LOYALTY", "ES_SUPPLY"):
        with contextlib.suppress(Exception):
            info = await js.stream_info(run.names.stream(stream))
            out[f"appended {stream}"] = float(info.state.last_seq)
    info = await redis.info("stats")
    out["redis commands"] = float(info["total_commands_processed"])
    for name, running in plat.running.items():
        with contextlib.suppress(Exception):
            async with session.get(f"http://127.0.0.1:{running.proc.port}/metrics") as resp:
                text = await resp.text()
            for line in text.splitlines():
                if line.startswith("#"):
                    continue
                metric, _, value = line.rpartition(" ")
                base = metric.split("{", 1)[0]
                if 'route="/metrics"' in metric:
                    continue
                if base == "bobaku_http_requests_total":
                    key = "http requests (client)" if name == "gateway" else "http hops"
                elif base == "bobaku_aggregate_loads_total":
                    key = "aggregate loads"
                elif base == "bobaku_aggregate_loads_from_memory_total":
                    key = "aggregate loads from memory"
                elif base == "bobaku_aggregate_messages_read_total":
                    key = "aggregate messages read"
                else:
                    continue
                out[key] = out.get(key, 0.0) + float(value)
    lines = 0
    by_op: dict[str, int] = {}
    for path in COMMAND_LOG.glob("*.jsonl"):
        with path.open(encoding="utf-8") as f:
            for line in f:
                lines += 1
                with contextlib.suppress(ValueError):
                    command = json.loads(line)
                    if "coll" in command:
                        by_op[command["op"]] = by_op.get(command["op"], 0) + 1
                        if command["op"] == "find":
                            key = f"find {command['coll']}"
                            by_op[key] = by_op.get(key, 0) + 1
    out["mongo commands"] = float(lines)
    for op, n in by_op.items():
        out[f"mongo {op}"] = float(n)
    if monitor:
        with contextlib.suppress(Exception):
            async with session.get(f"{monitor}/jsz") as resp:
                out["jetstream api requests"] = float((await resp.json())["api"]["total"])
    return out


# -- the generator -------------------------------------------------------------------------


@dataclass
class Template:
    order_events: list[Event]
    payment_events: list[Event]
    order_id: str
    intent_id: str
    customer_id: str
    franchise_id: str
    outlet_id: str


async def templates(
    bus: EventBus, placed: list[str], franchise_of: dict[str, str]
) -> list[Template]:
    """One completed order of each outlet from the level-0 load, with its payment."""
    orders, payments = AggregateStore(bus, "order"), AggregateStore(bus, "payment")
    found: dict[str, Template] = {}
    for order_id in placed:
        for fr in set(franchise_of.values()):
            stream = await orders.load(orders.subject(fr, order_id))
            if not stream.events:
                continue
            order = Order(id=order_id)
            for event in stream.events:
                apply(order, event)
            if order.outlet_id in found or str(order.status) != "completed":
                break
            intent = intent_id_for(order_id)
            pay = await payments.load(payments.subject(fr, intent))
            found[order.outlet_id] = Template(
                stream.events, pay.events, order_id, intent, order.customer_id, fr, order.outlet_id
            )
            break
        if len(found) == len(franchise_of):
            break
    return list(found.values())


def clone(events: list[Event], replace: dict[str, str]) -> list[Event]:
    out = []
    for event in events:
        text = event.to_json().decode()
        for old, new in replace.items():
            text = text.replace(old, new)
        out.append(Event.from_json(text.replace(event.id, new_event_id())))
    return out


async def generate(
    base: Settings,
    run: ob.Run,
    count: int,
    start: int,
    tpls: list[Template],
    customer_ids: list[str],
    stop_at: float,
) -> tuple[int, float]:
    """Stored orders ``start`` .. ``count`` (see the module), or as many as fit before
    ``stop_at`` (monotonic); returns how many are stored then and the seconds it took."""
    from pymongo import AsyncMongoClient

    # The run's deployment: the stored orders go to the streams its platform reads.
    bus = await EventBus.connect(base.model_copy(update={"nats_deployment_id": run.deployment_id}))
    redis = redis_from_settings(base)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(base.mongodb_url)
    platform_db = mongo[f"{run.db_prefix}_platform"]
    orders, payments = AggregateStore(bus, "order"), AggregateStore(bus, "payment")
    order_views = OrderViews(Listings(redis, f"{run.deployment_id}:order:views"))
    namespace = f"{run.deployment_id}:payment"
    payment_views = PaymentViews(Listings(redis, f"{namespace}:payments"))
    settlement = SettlementCounters(Tallies(redis, f"{namespace}:settlement"))
    docs: dict[str, list[dict[str, Any]]] = {
        "order_directory": [], "order_idempotency": [], INTENTS: [],
        "supply_reservation_places": [],
    }  # fmt: skip
    began = time.perf_counter()
    used: set[str] = set()
    gate = asyncio.Semaphore(GENERATE_IN_FLIGHT)
    done = 0

    # The Redis copies the services read these by (kernel.listings.WriteOnceDocuments).
    copies = {
        "order_directory": f"{run.deployment_id}:order:directory",
        "order_idempotency": f"{run.deployment_id}:order:keys",
        INTENTS: f"{run.deployment_id}:payment:intents",
    }

    async def flush() -> None:
        for collection, batch in docs.items():
            if batch:
                await platform_db[collection].insert_many(batch, ordered=False)
                if collection in copies:
                    pipe = redis.pipeline(transaction=False)
                    for doc in batch:
                        pipe.set(f"{copies[collection]}:d:{doc['_id']}", json.dumps(doc))
                    await pipe.execute()
                batch.clear()

    async def one(n: int) -> None:
        nonlocal done
        tpl = tpls[n % len(tpls)]
        day = tpl.order_id.split("-")[1]
        customer = customer_ids[n % len(customer_ids)]
        async with gate:
            # Order ids carry 32 random bits a day, and the streams keep earlier runs'
            # orders: on a collision (the subject exists) the generator draws again.
            for _ in range(10):
                order_id = f"ord-{day}-{secrets.token_hex(4)}"
                if order_id in used:
                    continue
                used.add(order_id)
                intent = intent_id_for(order_id)
                swap = {tpl.order_id: order_id, tpl.intent_id: intent, tpl.customer_id: customer}
                order_events = clone(tpl.order_events, swap)
                payment_events = clone(tpl.payment_events, swap)
                try:
                    subject = orders.subject(tpl.franchise_id, order_id)
                    seq = await orders.append(subject, order_events, 0)
                    subject = payments.subject(tpl.franchise_id, intent)
                    pseq = await payments.append(subject, payment_events, 0)
                    break
                except ConcurrencyConflict:
                    continue
            else:
                raise RuntimeError("no free order id in 10 draws")
            order = Order(id=order_id)
            for event in order_events:
                apply(order, event)
            order.version = seq
            await order_views.project(order)
            payment = replay(domain_events(payment_events))
            if payment is not None:
                view = payment_view(payment)
                await payment_views.save(
                    tpl.franchise_id, view, parse_utc(payment.created_at), pseq
                )
                for event, domain in zip(
                    payment_events, domain_events(payment_events), strict=False
                ):
                    line = settlement_line(domain, payment.provider, event.timestamp, JAKARTA)
                    if line is not None:
                        await settlement.add(tpl.franchise_id, line, event.id)
        where = {"franchise_id": tpl.franchise_id, "outlet_id": tpl.outlet_id}
        docs["order_directory"].append({"_id": order_id, "customer_id": customer, **where})
        docs["order_idempotency"].append(
            {"_id": f"{customer}:{secrets.token_hex(8)}", "order_id": order_id}
        )
        docs[INTENTS].append(
            {"_id": intent, "order_id": order_id, "customer_id": customer, **where}
        )
        docs["supply_reservation_places"].append({"_id": order_id, **where})
        done += 1

    try:
        n = start
        while n < count and time.monotonic() < stop_at:
            chunk = range(n, min(n + 1000, count))
            await asyncio.gather(*(one(i) for i in chunk))
            await flush()
            n = chunk.stop
            rate = done / max(time.perf_counter() - began, 1e-9)
            width = 30
            filled = int(width * n / count)
            print(
                f"\r[growth] stored orders [{'#' * filled}{'.' * (width - filled)}] "
                f"{n:,}/{count:,}  {rate:,.0f}/s  eta {(count - n) / max(rate, 1e-9):,.0f}s   ",
                end="", file=sys.stderr, flush=True,
            )  # fmt: skip
        print(file=sys.stderr)
    finally:
        await bus.close()
        await redis.aclose()
        await mongo.close()
    return n, time.perf_counter() - began


# -- the run -------------------------------------------------------------------------------


@dataclass
class Level:
    stored: int
    orders: Window
    lists: Window
    generate_s: float = 0.0
    load_average: str = ""


async def delete_consumers(nc: Any, run: ob.Run) -> None:
    js = nc.jetstream(timeout=10)
    for stream in await js.streams_info():
        for consumer in await js.consumers_info(stream.config.name or ""):
            durable = consumer.config.durable_name or ""
            if durable.startswith(f"{run.deployment_id}-"):
                await js.delete_consumer(stream.config.name, durable)


async def login(
    session: aiohttp.ClientSession, gateway: str, run: ob.Run, n: int
) -> tuple[str, str]:
    async with session.post(
        f"{gateway}/api/v1/auth/login",
        json={"email": f"ordbench-{run.run_id}-{n}@example.com", "password": "boba-bench-2026"},
    ) as resp:
        body = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"login: {resp.status} {body}")
        return body["data"]["tokens"]["access_token"], body["data"]["user"]["id"]


async def bench(levels: tuple[int, ...]) -> tuple[list[Level], dict[str, str]]:
    base = Settings()
    run = ob.Run()
    monitor_port = os.environ.get("BOBAKU_NATS_MONITOR_PORT")
    monitor = f"http://127.0.0.1:{monitor_port}" if monitor_port else None
    nc = await nats.connect(base.nats_url, name=f"growth-bench-{run.run_id}")
    redis = redis_from_settings(base)
    keys = tempfile.TemporaryDirectory(prefix="bobaku-growth-")
    private, public = Path(keys.name) / "private.pem", Path(keys.name) / "public.pem"
    private.write_bytes(private_key_pem(run.issuer.key))
    public.write_bytes(public_key_pem(run.issuer.public_key()))
    if COMMAND_LOG.exists():
        for old in COMMAND_LOG.glob("*.jsonl"):
            old.unlink()
    original_env = ob.platform_env

    def env_with_log(b: Settings, r: ob.Run) -> dict[str, str]:
        # One client address sends every request: the per-address limit out of reach too.
        return {
            **original_env(b, r),
            "MONGODB_COMMAND_LOG": str(COMMAND_LOG),
            "IP_RATE_LIMIT_PER_MINUTE": ob.HIGH_LIMIT,
        }

    ob.platform_env = env_with_log  # every start of the platform logs its Mongo commands
    results: list[Level] = []
    stored = 0
    started = time.monotonic()
    cut_short = False
    tpls: list[Template] = []
    customer_ids: list[str] = []
    plat = None
    try:
        for index, level in enumerate(levels):
            generate_s = 0.0
            if level > stored:
                if not tpls:
                    raise RuntimeError("no template orders: the first level must be 0")
                log(f"generating {level - stored:,} stored orders (to {level:,})")
                stop_at = started + DEADLINE_S - LEVEL_RESERVE_S
                stored, generate_s = await generate(
                    base, run, level, stored, tpls, customer_ids, stop_at
                )
                if stored < level:
                    log(f"time is up: measuring at {stored:,} stored orders instead of {level:,}")
                    cut_short = True
            await delete_consumers(nc, run)
            log(f"level {level:,}: starting the platform")
            plat, envs = await ob.start_platform(base, run, private, public)
            gateway = f"http://127.0.0.1:{plat.running['gateway'].proc.port}"
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
            ) as session:
                if index == 0:
                    await ob.seed_demo_brand(envs)
                    await ob.open_all_day(session, gateway, run.issuer)
                    await ob.stock_up(session, gateway, run.issuer)
                    await ob.register_customers(session, gateway, run, CUSTOMERS)
                logged = [await login(session, gateway, run, n) for n in range(CUSTOMERS)]
                customer_ids = [user for _, user in logged]
                actors = Actors(
                    gateway,
                    [token for token, _ in logged],
                    customer_ids,
                    {
                        o: run.issuer.issue(
                            f"u-barista-{o}", [Role.STAFF], franchise_id=fr, outlet_ids=[o]
                        )
                        for fr, outlets in ob.DEMO_FRANCHISES.items() for o in outlets
                    },
                    {
                        fr: run.issuer.issue(
                            f"u-owner-{fr}", [Role.FRANCHISE_OWNER], franchise_id=fr
                        )
                        for fr in ob.DEMO_FRANCHISES
                    },
                )  # fmt: skip
                watch = KitchenWatch()
                sub = await nc.subscribe(
                    run.names.subject("es.order.>"), cb=watch.on_message,
                    pending_msgs_limit=1_000_000,
                )  # fmt: skip
                await nc.flush()
                pids = {name: r.child.pid for name, r in plat.running.items()}
                cpu = ob.CpuMeter({**pids, **ob.infra_pids(base)})
                placed: list[str] = []
                log("warm-up")
                warm = await timed_load(order_operation(session, actors, watch, placed), 5.0, cpu)
                if warm.errors and not warm.completed:
                    raise RuntimeError(f"warm-up failed: {warm.first_error}")
                await asyncio.sleep(2)
                log(f"order load: {CONCURRENCY} in flight for {ORDER_S:.0f}s")
                load_average = ob.load_average()
                before = await counters(session, plat, nc, redis, monitor, run)
                orders = await timed_load(
                    order_operation(session, actors, watch, placed), ORDER_S, cpu
                )
                await asyncio.sleep(2)  # the projections and loyalty finish the last orders
                after = await counters(session, plat, nc, redis, monitor, run)
                orders.counts = {k: after.get(k, 0) - before.get(k, 0) for k in after}
                log(f"  {orders.completed} orders, {orders.errors} errors {orders.first_error}")
                log(f"list load: {CONCURRENCY} in flight for {LIST_S:.0f}s")
                lists = await timed_load(list_operation(session, actors), LIST_S, cpu)
                log(f"  {lists.completed} pages, {lists.errors} errors {lists.first_error}")
                await sub.unsubscribe()
                results.append(Level(stored, orders, lists, generate_s, load_average))
                if index == 0:
                    franchise_of = {
                        o: fr for fr, outlets in ob.DEMO_FRANCHISES.items() for o in outlets
                    }
                    bus = await EventBus.connect(
                        base.model_copy(update={"nats_deployment_id": run.deployment_id})
                    )
                    try:
                        tpls = await templates(bus, placed, franchise_of)
                    finally:
                        await bus.close()
                    log(f"{len(tpls)} template orders for the generator")
            log("stopping the platform")
            await plat.stop(grace_s=10)
            plat = None
            if cut_short:
                break
    except Exception as exc:  # report the levels measured so far
        log(f"stopped early: {type(exc).__name__}: {exc}")
        if not results:
            raise
    finally:
        ob.platform_env = original_env
        if plat is not None:
            await plat.stop(grace_s=10)
        with contextlib.suppress(Exception):
            await ob.clean_up(base, run, nc)
        with contextlib.suppress(Exception):
            batch = []
            async for key in redis.scan_iter(match=f"{run.deployment_id}:*", count=5000):
                batch.append(key)
                if len(batch) >= 5000:
                    await redis.unlink(*batch)
                    batch.clear()
            if batch:
                await redis.unlink(*batch)
        await redis.aclose()
        with contextlib.suppress(Exception):
            await nc.close()
        keys.cleanup()
    return results, ob.machine_facts()


# -- reporting -----------------------------------------------------------------------------


PROCESS_ORDER = (
    "ferretdb", "nats", "redis", "gateway", "order", "payment", "customer", "menu", "supply",
    "provider-sim", "client",
)  # fmt: skip


def cpu_ms_per_order(window: Window) -> dict[str, float]:
    n = max(window.completed, 1)
    out: dict[str, float] = {}
    for name, seconds in window.cpu_s.items():
        short = name.replace(" (shared)", "")
        if short in ("prometheus", "alertmanager", "jaeger", "mailpit", "infra-exporter"):
            continue
        out[short] = seconds * 1000 / n
    return out


def report(levels: list[Level], machine: dict[str, str]) -> str:
    first = levels[0]
    base_cpu = cpu_ms_per_order(first.orders)
    names = [p for p in PROCESS_ORDER if p in base_cpu] + sorted(set(base_cpu) - set(PROCESS_ORDER))
    head = "| per order | " + " | ".join(f"{lv.stored:,} stored" for lv in levels) + " |"
    sep = "|---|" + "---:|" * len(levels)
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{COMMAND}` on {machine['cpus']} "
        f"x {machine['cpu_model']}, {machine['memory']}; load average (1/5/15 min) at each "
        "order load: " + "; ".join(f"{lv.stored:,}: {lv.load_average}" for lv in levels) + ".",
        f"{CONCURRENCY} orders in flight for {ORDER_S:.0f} s per level (POST → paid → kitchen → "
        f"bump → complete); list pages {CONCURRENCY} in flight for {LIST_S:.0f} s. Ratios are to "
        "the empty run of the same invocation; CPU from /proc over the load's window ÷ orders "
        f"completed. Trace sampler: {ob.platform_sampler()} (the chart's: 1 in 10). Generation: "
        + "; ".join(f"{lv.stored:,} in {lv.generate_s:.0f} s" for lv in levels[1:])
        + ".",
        "",
        "**CPU per order (ms) and ratio to empty**",
        "",
        head,
        sep,
    ]
    totals = []
    for name in [*names, "total"]:
        cells = []
        for lv in levels:
            cpu = cpu_ms_per_order(lv.orders)
            value = (
                sum(cpu.values()) - cpu.get("client", 0) if name == "total" else cpu.get(name, 0.0)
            )
            base = (
                sum(base_cpu.values()) - base_cpu.get("client", 0)
                if name == "total"
                else base_cpu.get(name, 0.0)
            )
            cells.append(
                f"{value:.1f}" + (f" ({value / base:.2f}x)" if lv is not first and base else "")
            )
            if name == "total":
                totals.append(value)
        label = "**all but the client**" if name == "total" else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**List pages: p99 (ms) and ratio to empty**",
        "",
        head.replace("per order", "page"),
        sep,
    ]
    pages = list(first.lists.latencies_s)
    for page in [*pages, "all pages"]:
        cells = []
        base = (
            p99_ms(first.lists.latencies_s.get(page, []))
            if page != "all pages"
            else p99_ms([x for v in first.lists.latencies_s.values() for x in v])
        )
        for lv in levels:
            values = (
                lv.lists.latencies_s.get(page, [])
                if page != "all pages"
                else [x for v in lv.lists.latencies_s.values() for x in v]
            )
            value = p99_ms(values)
            cells.append(
                f"{value:.1f}" + (f" ({value / base:.2f}x)" if lv is not first and base else "")
            )
        lines.append(f"| {page} | " + " | ".join(cells) + " |")
    lines += ["", "**What one order does** (counts during the order load ÷ orders)", "", head, sep]
    keys = sorted({k for lv in levels for k in lv.orders.counts})
    for key in keys:
        cells = [
            f"{lv.orders.counts.get(key, 0) / max(lv.orders.completed, 1):.1f}" for lv in levels
        ]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| level | orders | errors | order p99 (ms) | pages read | page errors |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for lv in levels:
        lines.append(
            f"| {lv.stored:,} | {lv.orders.completed} | {lv.orders.errors} | "
            f"{p99_ms(lv.orders.latencies_s.get('order', [])):.0f} | "
            f"{lv.lists.completed} | {lv.lists.errors} |"
        )
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else "# Performance\n"
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + block + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip() + "\n\n## Growth\n\n" + block + "\n"
    DOC.write_text(doc)


def main() -> None:
    global ORDER_S, LIST_S
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--levels",
        default=",".join(str(n) for n in LEVELS),
        help="stored orders per level, from 0 (default 0,10000,100000)",
    )
    parser.add_argument("--no-doc", action="store_true", help="print only")
    parser.add_argument(
        "--seconds", type=float, help=f"seconds of each load (default {ORDER_S:.0f} of orders, "
        f"{LIST_S:.0f} of list pages): a shorter trial run",
    )  # fmt: skip
    args = parser.parse_args()
    if args.seconds:
        ORDER_S = LIST_S = args.seconds
    levels = tuple(int(x) for x in args.levels.split(","))
    if not levels or levels[0] != 0 or list(levels) != sorted(levels):
        raise SystemExit("--levels: ascending, starting at 0")

    async def bounded() -> tuple[list[Level], dict[str, str]]:
        return await asyncio.wait_for(bench(levels), DEADLINE_S + 600)

    results, machine = asyncio.run(bounded())
    text = report(results, machine)
    print(text)
    Path(ROOT / ".run" / "bench" / "growth" / "results.json").write_text(
        json.dumps(
            [
                {
                    "stored": lv.stored,
                    "orders": lv.orders.__dict__,
                    "lists": lv.lists.__dict__,
                    "generate_s": lv.generate_s,
                    "load_average": lv.load_average,
                }
                for lv in results
            ],
            default=str,
            indent=1,
        )
    )
    if not args.no_doc:
        write_doc(text)


if __name__ == "__main__":
    main()
