"""Ordering benchmark: orders per second to ``payment_completed`` and cached menu reads per
second through the gateway, against a raw aiohttp hello-world server measured in the same run.

    BOBAKU_RUN_DIR=$PWD/.run/test BOBAKU_NATS_PORT=24222 BOBAKU_NATS_MONITOR_PORT=28222 \\
        BOBAKU_REDIS_PORT=26379 BOBAKU_MONGO_PORT=37027 scripts/infra.sh up
    set -a; source .run/test/infra.env; set +a
    PYTHONSAFEPATH=1 PYTHONPATH=scripts:tests .venv/bin/python bench/ordering_bench.py

What runs, in order:

1. the platform's processes through the launcher (customer, menu, payment, order, the
   provider simulator in ``instant`` mode, the gateway; not the hub, which ordering does
   not use), with a key pair, database prefix and deployment id of this run and rate
   limits out of reach; the demo brand is seeded, its outlets opened around the clock
   through the API, a handful of customers registered, and the menu read once (which fills
   its cache and gives the size of the baseline's body);
2. the baseline: a raw aiohttp server in a process of its own (one route, no middleware, no
   I/O) answering ``json_response`` with a document of the menu's size; it is loaded before
   and again after the platform's loads, and the two windows together are the reference;
3. cached menu reads: ``GET /api/v1/outlets/outlet-01/menu`` through the gateway, without a
   token, as a browsing customer would;
4. orders: ``POST /api/v1/orders`` through the gateway (one Brown Sugar Boba Milk Tea with
   toppings, GoPay, a fresh ``Idempotency-Key``), over the five demo outlets; an order's
   time runs from sending the POST until its ``order.payment_completed`` event is stored in
   the order's event stream, seen by a core NATS subscription on ``es.order.>`` (the API is
   never polled). The saga holds the order's ingredients by recipe in the supply service;
5. the same orders again with the order service restarted without a stock step
   (``ORDER_STOCK_SERVICE=none``, the saga holding no stock, a baseline only): the difference
   between the two is what the supply step costs per order. ``--rounds`` (default 2) order
   windows of each kind alternate ABBA (with, without, without, with), so a machine growing
   busier or quieter during the run weighs on both; each window is reported apart too.

Each load keeps a fixed number of operations in flight with the same client code (an order
is in flight until it is paid), for a fixed time after a short warm-up. Throughput is what
completed inside the window; latencies are those of the operations started inside it.
Ratios are platform ÷ baseline. Everything listens on 127.0.0.1; the run is bounded in time
and count, stops everything it started (also on failure or Ctrl-C), drops its databases and
durable consumers, prints a table and rewrites the "Ordering" section of
``docs/performance.md`` (the other sections are left as they are).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import secrets
import signal
import socket
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import nats
from aiohttp import web
from launcher import ALL_PROCESSES, Platform, Process, environment, file_logger
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from seed import seed_demo_brand

from bobaku.kernel.auth import (
    Role,
    TokenIssuer,
    generate_private_key,
    private_key_pem,
    public_key_pem,
)
from bobaku.kernel.bus import BATCH_HEADER
from bobaku.kernel.names import Names, names_for
from bobaku.kernel.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
LOGS = ROOT / ".run" / "bench" / "ordering"
BEGIN, END = "<!-- ordering-bench:start -->", "<!-- ordering-bench:end -->"
COMMAND = (
    "set -a; source .run/test/infra.env; set +a; "
    "PYTHONSAFEPATH=1 PYTHONPATH=scripts:tests .venv/bin/python bench/ordering_bench.py"
)

SERVICES = ("provider-sim", "customer", "menu", "supply", "payment", "order", "gateway")
CONCURRENCY = 16
WARMUP_S = 1.5
READ_S = 10.0  # each baseline window, and the menu reads
ORDER_S = 30.0
MAX_REQUESTS = 200_000  # per load, whatever the duration
MAX_ORDERS = 10_000
ORDER_TIMEOUT_S = 30.0  # an order not paid by then counts as an error
DEADLINE_S = 320  # then the run is cancelled: everything is stopped on the way out
# Order windows with and without supply: with, without, without, with (ABBA).
ROUNDS = 2
CUSTOMERS = 8
HIGH_LIMIT = "100000000"
# Ports the infrastructure and `make run` bind (scripts/infra.sh, docs/contracts.md).
RESERVED_PORTS = frozenset({14222, 16379, 24222, 26379, 27027, 28222, 37027, *range(18000, 19000)})

MENU_PATH = "/api/v1/outlets/outlet-01/menu"
DEMO_FRANCHISES = {
    "fr-jakarta": ("outlet-01", "outlet-02", "outlet-03"),
    "fr-bandung": ("outlet-04", "outlet-05"),
}
OUTLETS = tuple(o for outlets in DEMO_FRANCHISES.values() for o in outlets)
OPEN_ALL_WEEK = {
    day: [{"open": "00:00", "close": "24:00"}]
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}
ORDER_ITEM = {
    "menu_id": "m001",  # supply is stocked far beyond the run
    "quantity": 1,
    "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": ["t001", "t003"]},
}


def log(line: str) -> None:
    print(f"[bench] {line}", file=sys.stderr, flush=True)


# -- measuring -------------------------------------------------------------------------------


@dataclass
class Load:
    """What one load achieved: throughput inside its window, latencies of what started in it,
    and the CPU each process used meanwhile (share of one core)."""

    name: str
    concurrency: int
    window_s: float = 0.0
    measure_from: float = 0.0
    completed_in_window: int = 0
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.completed_in_window / self.window_s if self.window_s else 0.0

    def percentile_ms(self, q: int) -> float:
        if len(self.latencies_s) < 2:
            return self.latencies_s[0] * 1000 if self.latencies_s else float("nan")
        return statistics.quantiles(self.latencies_s, n=100, method="inclusive")[q - 1] * 1000

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    def merged(self, other: Load, name: str) -> Load:
        """Two windows of the same load taken as one (CPU shares weighted by window)."""
        window = self.window_s + other.window_s
        cpu = {
            n: (self.cpu.get(n, 0.0) * self.window_s + other.cpu.get(n, 0.0) * other.window_s)
            / window
            for n in {*self.cpu, *other.cpu}
        }
        return Load(
            name,
            self.concurrency,
            window_s=window,
            completed_in_window=self.completed_in_window + other.completed_in_window,
            latencies_s=self.latencies_s + other.latencies_s,
            errors=self.errors + other.errors,
            first_error=self.first_error or other.first_error,
            cpu=cpu if window else {},
        )


class CpuMeter:
    """CPU time (user + system) of our own processes, from /proc: where a load's cost goes."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self._t0 = 0.0

    @classmethod
    def seconds(cls, pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / cls.TICK  # utime, stime

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._start = {name: self.seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self._t0
        return {
            name: (self.seconds(pid) - self._start[name]) / elapsed
            for name, pid in self.pids.items()
        }


Operation = Callable[[int], Awaitable[float]]
"""Operation number ``i`` (a request, an order): its latency in seconds; raises if it failed."""


async def run_load(
    name: str,
    operation: Operation,
    *,
    concurrency: int,
    seconds: float,
    max_count: int,
    cpu: CpuMeter | None = None,
) -> Load:
    """``concurrency`` workers, each starting its next operation when its last one ends.

    The window opens after the warm-up; operations completing inside it give the throughput,
    operations started inside it the latencies (none starts after it, and those in flight
    when it closes are waited for).
    """
    measure_from = time.perf_counter() + WARMUP_S
    load = Load(name, concurrency, window_s=seconds, measure_from=measure_from)
    stop_at = measure_from + seconds
    counter = iter(range(max_count))

    async def worker() -> None:
        for i in counter:
            begin = time.perf_counter()
            if begin >= stop_at:
                return
            try:
                latency = await operation(i)
            except Exception as exc:
                if begin >= measure_from:
                    load.errors += 1
                    load.first_error = load.first_error or f"{type(exc).__name__}: {exc}"[:300]
                continue
            if measure_from <= begin + latency < stop_at:
                load.completed_in_window += 1
            if begin >= measure_from:
                load.latencies_s.append(latency)

    if cpu is not None:
        cpu.start()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if cpu is not None:
        load.cpu = cpu.stop()
    # A load cut short by its count: the window is what actually elapsed.
    load.window_s = min(seconds, max(time.perf_counter() - measure_from, 1e-9))
    return load


async def http_get(session: aiohttp.ClientSession, url: str) -> float:
    begin = time.perf_counter()
    async with session.get(url) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {url}: {resp.status} {body[:200]!r}")
    return time.perf_counter() - begin


def client_session(concurrency: int) -> aiohttp.ClientSession:
    # Keep-alive connections, one per worker, as a browser or a mobile app would hold.
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=ORDER_TIMEOUT_S),
    )


async def read_load(url: str, name: str, concurrency: int, seconds: float, cpu: CpuMeter) -> Load:
    async with client_session(concurrency) as session:
        return await run_load(
            name,
            lambda _i: http_get(session, url),
            concurrency=concurrency,
            seconds=seconds,
            max_count=MAX_REQUESTS,
            cpu=cpu,
        )


def quiet_port() -> int:
    """A free port below the kernel's ephemeral range.

    A port from ``bind(0)`` is free only until someone else's socket takes it: on a busy
    machine another run's outgoing connection or test server can land on it before our
    process binds, and that server then answers our readiness probe. Below the ephemeral
    range only explicit binds compete.
    """
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randint(20000, max(20001, low - 1))
        if port in RESERVED_PORTS:
            continue
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port))
            return port


# -- the baseline server ---------------------------------------------------------------------


def hello_payload(size: int) -> dict[str, Any]:
    """A JSON document shaped like an API envelope, about ``size`` bytes when serialised."""
    items: list[dict[str, Any]] = []
    payload: dict[str, Any] = {"status": "success", "data": {"message": "hello", "items": items}}
    while len(json.dumps(payload)) < size:
        n = len(items)
        items.append({"id": f"m{n:03d}", "name": f"Hello Tea {n}", "price": 28000, "ok": True})
    return payload


def baseline_main(port: int, size: int) -> None:
    """A raw aiohttp hello-world: one route, no middleware, serialising its JSON per request."""
    payload = hello_payload(size)

    async def hello(_: web.Request) -> web.Response:
        return web.json_response(payload)

    app = web.Application()
    app.router.add_get("/hello", hello)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


@contextlib.asynccontextmanager
async def baseline_server(size: int) -> AsyncIterator[tuple[str, int]]:
    """The baseline process, running; yields its URL and pid."""
    port = quiet_port()
    url = f"http://127.0.0.1:{port}/hello"
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--baseline-server", str(port), str(size)
    )
    try:
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as session:
            while True:
                if child.returncode is not None:
                    raise RuntimeError(f"baseline server exited with {child.returncode}")
                try:
                    await http_get(session, url)
                    break
                except (aiohttp.ClientError, RuntimeError):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        if child.returncode is not None:  # someone else answered on the port it lost
            raise RuntimeError(f"baseline server exited with {child.returncode}")
        yield url, child.pid
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(child.wait(), 10)
            except TimeoutError:
                child.kill()
                await child.wait()


# -- watching orders get paid ----------------------------------------------------------------


class PaymentWatch:
    """When each order's ``order.payment_completed`` event was stored, from a core NATS
    subscription on the order streams' subjects (JetStream delivers stores to those too)."""

    def __init__(self) -> None:
        self.paid_at: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}

    async def on_message(self, msg: Msg) -> None:
        now = time.perf_counter()
        data = msg.data
        # Most stored events are of other kinds: skip them before decoding anything.
        if b"order.payment_completed" not in data and b"order.payment_failed" not in data:
            return
        raw = json.loads(data)
        events = raw if msg.headers and msg.headers.get(BATCH_HEADER) else [raw]
        for event in events:
            order_id = event.get("data", {}).get("order_id")
            if not isinstance(order_id, str):
                continue
            waiter = self.waiters.get(order_id)
            if event.get("type") == "order.payment_completed":
                self.paid_at.setdefault(order_id, now)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)
            elif event.get("type") == "order.payment_failed":
                reason = str(event["data"].get("reason"))
                self.failed[order_id] = reason
                if waiter is not None and not waiter.done():
                    waiter.set_exception(RuntimeError(f"{order_id}: payment failed ({reason})"))

    async def paid(self, order_id: str, timeout_s: float) -> float:
        """The moment the order was paid: at once if already seen (the callback can beat the
        POST's response), else when it is."""
        if order_id in self.paid_at:
            return self.paid_at[order_id]
        if order_id in self.failed:
            raise RuntimeError(f"{order_id}: payment failed ({self.failed[order_id]})")
        waiter = asyncio.get_running_loop().create_future()
        self.waiters[order_id] = waiter
        try:
            return await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            raise RuntimeError(f"{order_id} not paid within {timeout_s:.0f}s") from None
        finally:
            del self.waiters[order_id]


def order_placer(
    session: aiohttp.ClientSession,
    gateway: str,
    tokens: list[str],
    watch: PaymentWatch,
    responses: list[tuple[float, float]],
) -> Operation:
    """Places order ``i`` and waits until it is paid; ``responses`` gets (start, latency) of
    each POST alone, to tell the synchronous part from the saga's asynchronous one."""

    async def place(i: int) -> float:
        begin = time.perf_counter()
        async with session.post(
            f"{gateway}/api/v1/orders",
            json={
                "outlet_id": OUTLETS[i % len(OUTLETS)],
                "items": [ORDER_ITEM],
                "payment_method": "gopay",
            },
            headers={
                "Authorization": f"Bearer {tokens[i % len(tokens)]}",
                "Idempotency-Key": secrets.token_hex(8),
            },
        ) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 201:
                raise RuntimeError(f"POST /orders: {resp.status} {body}")
        responses.append((begin, time.perf_counter() - begin))
        return await watch.paid(body["data"]["id"], ORDER_TIMEOUT_S) - begin

    return place


# -- the platform ----------------------------------------------------------------------------


@dataclass
class Run:
    """Names and keys of this run, so it never meets another run's data or consumers."""

    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    issuer: TokenIssuer = field(
        default_factory=lambda: TokenIssuer(
            generate_private_key(), kid="bench-1", issuer="bobaku-customer", audience="bobaku"
        )
    )

    @property
    def db_prefix(self) -> str:
        return f"ordbench{self.run_id}"

    @property
    def deployment_id(self) -> str:
        return f"ordbench-{self.run_id}"

    @property
    def names(self) -> Names:
        """The run's own streams, subjects and buckets: it never sees another's orders."""
        return names_for(self.deployment_id)


CHART_SAMPLER, CHART_SAMPLE_RATIO = "parentbased_traceidratio", "0.1"


def sampler_env() -> dict[str, str]:
    """Traces sampled as the chart deploys them (values.yaml `tracing`: one in ten, kept or
    dropped at the gateway), unless the caller chose a sampler: the figures are the deployed
    platform's. `make bench-tracing` measures every trace kept against none."""
    return {
        "OTEL_TRACES_SAMPLER": os.environ.get("OTEL_TRACES_SAMPLER", CHART_SAMPLER),
        "OTEL_TRACES_SAMPLER_ARG": os.environ.get("OTEL_TRACES_SAMPLER_ARG", CHART_SAMPLE_RATIO),
    }


def platform_sampler() -> str:
    """The trace sampler the platform's processes run with, for the reports (its ratio only
    where it takes one)."""
    env = sampler_env()
    name = env["OTEL_TRACES_SAMPLER"]
    return f"{name} {env['OTEL_TRACES_SAMPLER_ARG']}" if "ratio" in name else name


def platform_env(base: Settings, run: Run) -> dict[str, str]:
    return {
        "NATS_URL": base.nats_url,
        "REDIS_URL": base.redis_url,
        "MONGODB_URL": base.mongodb_url,
        "MONGODB_DB_PREFIX": run.db_prefix,
        "DEPLOYMENT_ID": run.deployment_id,
        "CONSUMERS_START_AT": "new",
        "ENVIRONMENT": "test",
        # Per-request INFO lines would be piped through this process, the load generator.
        "LOG_LEVEL": "WARNING",
        "PROVIDER_SIM_MODE": "instant",
        "RATE_LIMIT_PER_MINUTE": HIGH_LIMIT,
        "ANONYMOUS_RATE_LIMIT_PER_MINUTE": HIGH_LIMIT,
        "LOGIN_RATE_LIMIT_PER_MINUTE": HIGH_LIMIT,
        "IP_RATE_LIMIT_PER_MINUTE": HIGH_LIMIT,
        **sampler_env(),
    }


def platform_processes(services: Sequence[str] = SERVICES) -> list[Process]:
    wanted = {p.name: p for p in ALL_PROCESSES if p.name in services}
    missing = set(services) - set(wanted)
    if missing:
        raise SystemExit(f"platform processes missing from the launcher: {sorted(missing)}")
    return [Process(p.name, p.module, quiet_port(), p.public) for p in wanted.values()]


async def start_platform(
    base: Settings,
    run: Run,
    private: Path,
    public: Path,
    services: Sequence[str] = SERVICES,
    replicas: dict[str, int] | None = None,
    logs: Path = LOGS,
) -> tuple[Platform, dict[str, dict[str, str]]]:
    """The platform, started and still alive a moment after its readiness probes answered
    (a process that lost its port exits just after someone else answered for it)."""
    for attempt in range(1, 4):
        procs = platform_processes(services)
        envs = environment(procs, run.issuer, private, public, platform_env(base, run))
        plat = Platform(procs, envs, file_logger(logs), replicas=dict(replicas or {}))
        try:
            await plat.start(timeout_s=90)
            await asyncio.sleep(1.0)
            dead = [name for name, r in plat.running.items() if r.child.returncode is not None]
            if not dead:
                return plat, envs
            raise RuntimeError(f"{', '.join(dead)} exited after starting")
        except RuntimeError as exc:
            await plat.stop(grace_s=10)
            if attempt == 3:
                raise
            log(f"platform start failed ({exc}; see {LOGS}); trying again on other ports")
        except BaseException:
            await plat.stop(grace_s=10)
            raise
    raise AssertionError("unreachable")


async def open_all_day(session: aiohttp.ClientSession, gateway: str, issuer: TokenIssuer) -> None:
    """The demo outlets keep Jakarta shop hours; a benchmark must not depend on the clock."""
    for franchise, outlets in DEMO_FRANCHISES.items():
        owner = issuer.issue(f"u-owner-{franchise}", [Role.FRANCHISE_OWNER], franchise_id=franchise)
        for outlet in outlets:
            async with session.put(
                f"{gateway}/api/v1/outlets/{outlet}/hours",
                json={"opening_hours": OPEN_ALL_WEEK},
                headers={"Authorization": f"Bearer {owner}"},
            ) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"opening {outlet}: {resp.status} {await resp.text()}")


async def stock_up(session: aiohttp.ClientSession, gateway: str, issuer: TokenIssuer) -> None:
    """Count far more of every ingredient in than a run can use, so no order runs out."""
    from bobaku.services.supply.seed import INGREDIENT_LIST

    lines = [{"ingredient_id": row[0], "counted": 10_000_000} for row in INGREDIENT_LIST]
    for franchise, outlets in DEMO_FRANCHISES.items():
        owner = issuer.issue(f"u-owner-{franchise}", [Role.FRANCHISE_OWNER], franchise_id=franchise)
        for outlet in outlets:
            async with session.post(
                f"{gateway}/api/v1/outlets/{outlet}/stock-takes",
                json={"lines": lines},
                headers={"Authorization": f"Bearer {owner}"},
            ) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"stocking {outlet}: {resp.status} {await resp.text()}")


async def register_customers(
    session: aiohttp.ClientSession, gateway: str, run: Run, count: int
) -> list[str]:
    tokens = []
    for n in range(count):
        async with session.post(
            f"{gateway}/api/v1/auth/register",
            json={
                "email": f"ordbench-{run.run_id}-{n}@example.com",
                "password": "boba-bench-2026",
                "name": f"Bench Customer {n}",
                "language": "id",
            },
        ) as resp:
            body = await resp.json()
            if resp.status != 201:
                raise RuntimeError(f"registering a customer: {resp.status} {body}")
            tokens.append(body["data"]["tokens"]["access_token"])
    return tokens


@dataclass
class BenchPlatform:
    """A benchmark's running platform (see :func:`bench_platform`)."""

    plat: Platform
    envs: dict[str, dict[str, str]]
    nc: NATS

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.plat.running['gateway'].proc.port}"


@contextlib.asynccontextmanager
async def bench_platform(
    base: Settings, run: Run, client_name: str, **start: Any
) -> AsyncIterator[BenchPlatform]:
    """The run's platform (``start``: :func:`start_platform`'s options) with the demo brand
    seeded, and a NATS connection; on the way out, the platform stopped and the run's
    databases, streams and consumers dropped, whatever happened."""
    nc = await nats.connect(base.nats_url, name=f"{client_name}-{run.run_id}")
    keys = tempfile.TemporaryDirectory(prefix="bobaku-bench-")  # lives as long as the platform
    plat: Platform | None = None
    try:
        private, public = Path(keys.name) / "private.pem", Path(keys.name) / "public.pem"
        private.write_bytes(private_key_pem(run.issuer.key))
        public.write_bytes(public_key_pem(run.issuer.public_key()))
        plat, envs = await start_platform(base, run, private, public, **start)
        await seed_demo_brand(envs)
        yield BenchPlatform(plat, envs, nc)
    finally:
        if plat is not None:
            log("stopping the platform")
            await plat.stop(grace_s=10)
        with contextlib.suppress(Exception):
            await clean_up(base, run, nc)
        with contextlib.suppress(Exception):
            await nc.close()
        keys.cleanup()


async def ready_to_order(
    session: aiohttp.ClientSession, gateway: str, run: Run, customers: int
) -> list[str]:
    """The demo outlets open around the clock and stocked; ``customers`` access tokens."""
    await open_all_day(session, gateway, run.issuer)
    await stock_up(session, gateway, run.issuer)
    return await register_customers(session, gateway, run, customers)


async def clean_up(base: Settings, run: Run, nc: NATS) -> None:
    """Drop this run's databases and durable consumers (the streams are shared)."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        base.mongodb_url, serverSelectionTimeoutMS=5000
    )
    try:
        for name in await client.list_database_names():
            if name.startswith(f"{run.db_prefix}_"):
                await client.drop_database(name)
    finally:
        await client.close()
    if nc.is_connected:
        js = nc.jetstream(timeout=5)
        owned = (run.names.stream(""), f"KV_{run.names.bucket('')}")
        for stream in await js.streams_info():
            name = stream.config.name or ""
            if name.startswith(owned):  # the run's own streams and buckets go entirely
                await js.delete_stream(name)
                continue
            for consumer in await js.consumers_info(name):
                durable = consumer.config.durable_name or ""
                if durable.startswith(f"{run.deployment_id}-"):
                    await js.delete_consumer(name, durable)


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Results:
    baseline_before: Load
    menu: Load
    orders: Load
    order_post: Load
    orders_bare: Load
    order_post_bare: Load
    baseline_after: Load
    menu_bytes: int
    read_s: float
    order_s: float
    started: datetime
    # Every order window in the order they ran: (with supply?, orders, their POSTs).
    windows: list[tuple[bool, Load, Load]] = field(default_factory=list)
    machine: dict[str, str] = field(default_factory=dict)

    @property
    def baseline(self) -> Load:
        return self.baseline_before.merged(self.baseline_after, "baseline")


def infra_pids(base: Settings) -> dict[str, int]:
    """NATS, Redis and FerretDB of the infrastructure we use, if scripts/infra.sh started it
    from this checkout (their CPU counts everyone's work, not only ours)."""
    for run_dir in (ROOT / ".run" / "test", ROOT / ".run"):
        with contextlib.suppress(OSError, ValueError):
            if f"NATS_URL={base.nats_url}" in (run_dir / "infra.env").read_text():
                return {
                    f"{pidfile.stem} (shared)": int(pidfile.read_text().split()[0])
                    for pidfile in sorted((run_dir / "pids").glob("*.pid"))
                }
    return {}


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def order_modes(rounds: int) -> list[bool]:
    """The order windows, True with supply: with, without, then without, with, and so on
    (ABBA), so that a machine getting busier or quieter during the run weighs on both."""
    out: list[bool] = []
    for n in range(rounds):
        out += [True, False] if n % 2 == 0 else [False, True]
    return out


def merge_windows(
    windows: Sequence[tuple[bool, Load, Load]], with_supply: bool, name: str
) -> tuple[Load, Load]:
    chosen = [(o, p) for w, o, p in windows if w == with_supply]
    orders, posts = replace(chosen[0][0], name=name), replace(chosen[0][1], name=f"{name} POST")
    for o, p in chosen[1:]:
        orders, posts = orders.merged(o, name), posts.merged(p, f"{name} POST")
    return orders, posts


async def bench(concurrency: int, read_s: float, order_s: float, rounds: int = 2) -> Results:
    base = Settings()
    run = Run()
    started = datetime.now(UTC)
    load_before = load_average()
    for old in LOGS.glob("*.log") if LOGS.exists() else ():
        old.unlink()  # the logs of this run only
    log(f"starting {', '.join(SERVICES)} (run {run.run_id}; logs in {LOGS})")
    begin = time.perf_counter()
    async with bench_platform(base, run, "ordering-bench") as bp:
        plat, nc, gateway = bp.plat, bp.nc, bp.gateway
        log(f"platform ready and seeded in {time.perf_counter() - begin:.1f}s")
        async with aiohttp.ClientSession() as session:
            tokens = await ready_to_order(session, gateway, run, CUSTOMERS)
            async with session.get(gateway + MENU_PATH) as resp:  # the warm-up read
                menu_body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"menu read: {resp.status} {menu_body[:300]!r}")

        async with baseline_server(len(menu_body)) as (hello_url, baseline_pid):
            pids = {name: r.child.pid for name, r in plat.running.items()}
            pids |= {"baseline": baseline_pid, "client": os.getpid(), **infra_pids(base)}
            cpu = CpuMeter(pids)
            log(f"baseline: GET {hello_url} ({len(menu_body):,}-byte JSON)")
            before = await read_load(hello_url, "baseline before", concurrency, read_s, cpu)

            log(f"menu reads: GET {gateway}{MENU_PATH}")
            menu = await read_load(gateway + MENU_PATH, "menu", concurrency, read_s, cpu)

            log("orders: POST /api/v1/orders until payment_completed (stock held by supply)")
            watch = PaymentWatch()
            await nc.subscribe(
                run.names.subject("es.order.>"), cb=watch.on_message, pending_msgs_limit=1_000_000
            )
            await nc.flush()

            async def order_load(name: str) -> tuple[Load, Load]:
                responses: list[tuple[float, float]] = []
                async with client_session(concurrency) as session:
                    load = await run_load(
                        name,
                        order_placer(session, gateway, tokens, watch, responses),
                        concurrency=concurrency,
                        seconds=order_s,
                        max_count=MAX_ORDERS,
                        cpu=cpu,
                    )
                post = Load(
                    f"{name} POST",
                    concurrency,
                    latencies_s=[lat for at, lat in responses if at >= load.measure_from],
                )
                return load, post

            windows: list[tuple[bool, Load, Load]] = []
            for n, with_supply in enumerate(order_modes(rounds)):
                mode = "supply" if with_supply else "none"
                if plat.envs["order"].get("ORDER_STOCK_SERVICE", "supply") != mode:
                    log(f"restarting the order service with ORDER_STOCK_SERVICE={mode}")
                    plat.envs["order"]["ORDER_STOCK_SERVICE"] = mode
                    await plat.restart("order")
                    cpu.pids["order"] = plat.running["order"].child.pid
                label = "orders" if with_supply else "orders without supply"
                log(f"order window {n + 1}: {label}")
                load, post = await order_load(f"{label} #{n + 1}")
                windows.append((with_supply, load, post))
            orders, order_post = merge_windows(windows, True, "orders")
            orders_bare, order_post_bare = merge_windows(windows, False, "orders without supply")

            log("baseline again")
            after = await read_load(hello_url, "baseline after", concurrency, read_s, cpu)
    results = Results(
        before,
        menu,
        orders,
        order_post,
        orders_bare,
        order_post_bare,
        after,
        len(menu_body),
        read_s,
        order_s,
        started,
        windows,
    )
    results.machine = {**machine_facts(), "load_before": load_before, "load_after": load_average()}
    return results


# -- reporting -------------------------------------------------------------------------------


def machine_facts() -> dict[str, str]:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return {
        "cpus": str(len(os.sched_getaffinity(0))),
        "cpu_model": model,
        "memory": memory,
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "kernel": platform.release(),
    }


def times(value: float) -> str:
    if value != value:  # NaN: nothing was measured
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}x"
    if value >= 0.1:
        return f"{value:.2f}x"
    return f"{value:.2g}x"


def ratio(value: float, base: float) -> str:
    return times(value / base) if base else "n/a"


def table(r: Results) -> list[str]:
    b = r.baseline
    rows = [
        "| load | completed in window | errors | per second | p50 | p99 "
        "| throughput ÷ baseline | p50 ÷ baseline | p99 ÷ baseline |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for load, label in (
        (b, "baseline: raw aiohttp `GET /hello` (both windows)"),
        (r.menu, "cached menu read through the gateway"),
        (r.orders, "order: `POST /api/v1/orders` → `payment_completed` (supply in the saga)"),
        (r.orders_bare, "the same order without supply (no stock step)"),
    ):
        rows.append(
            f"| {label} | {load.completed_in_window:,} | {load.errors} | **{load.rate:,.1f}** "
            f"| {load.p50_ms:.1f} ms | {load.p99_ms:.1f} ms | {ratio(load.rate, b.rate)} "
            f"| {ratio(load.p50_ms, b.p50_ms)} | {ratio(load.p99_ms, b.p99_ms)} |"
        )
    return rows


def cpu_line(load: Load) -> str:
    shares = sorted(load.cpu.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {share:.0%}" for name, share in shares if share >= 0.005)


def paragraph(text: str) -> str:
    return textwrap.fill(text, width=92, break_long_words=False, break_on_hyphens=False)


def report(r: Results) -> str:
    m = r.machine
    bb, ba = r.baseline_before, r.baseline_after
    lines = [
        paragraph(
            f"Measured {r.started:%Y-%m-%d %H:%M} UTC on {m['cpus']} CPU cores "
            f"({m['cpu_model']}), {m['memory']} of memory, Python {m['python']}, aiohttp "
            f"{m['aiohttp']}, Linux {m['kernel']}. Other processes were running on the same "
            f"cores (1/5/15-minute load average {m['load_before']} before the run, "
            f"{m['load_after']} after), so the figures move from run to run; the two baseline "
            "windows below show how much the machine moved within this one. Command "
            "(`make bench`):"
        ),
        "",
        "```",
        COMMAND,
        "```",
        "",
        paragraph(
            f"{r.orders.concurrency} operations in flight in every load, from one client "
            f"process (aiohttp, keep-alive connections); {r.read_s:.0f} s per read window and "
            f"{r.order_s:.0f} s of orders, each after {WARMUP_S} s of warm-up. The baseline's "
            f"body is a {r.menu_bytes:,}-byte JSON document, the menu's size. Ratios are "
            "platform ÷ baseline: a throughput ratio below 1 and latency ratios above 1 are "
            f"what the platform costs. Trace sampler: {platform_sampler()} (the chart's: 1 in "
            "10; `make bench-tracing` measures every trace kept)."
        ),
        "",
        *table(r),
        "",
        paragraph(
            f"Baseline windows: before the platform's loads {bb.rate:,.0f} requests/s (p50 "
            f"{bb.p50_ms:.1f} ms, p99 {bb.p99_ms:.1f} ms), after them {ba.rate:,.0f} "
            f"requests/s (p50 {ba.p50_ms:.1f} ms, p99 {ba.p99_ms:.1f} ms)."
        ),
        "",
        paragraph(
            f"Of an order's time, the POST's response took p50 {r.order_post.p50_ms:.1f} ms, "
            f"p99 {r.order_post.p99_ms:.1f} ms; the rest is the saga after it (provider "
            "callback, capture, `order.payment_completed`)."
        ),
        "",
        paragraph(supply_cost(r)),
        "",
        *windows_table(r),
        paragraph(
            'CPU used during each load, in shares of one core ("shared": the '
            "infrastructure's servers, busy with other users' work too):"
        ),
        "",
    ]
    for load in (bb, r.menu, r.orders, r.orders_bare):
        lines.append(textwrap.fill(f"- {load.name}: {cpu_line(load)}", 92, subsequent_indent="  "))
    for load in (bb, r.menu, r.orders, r.orders_bare, ba):
        if load.first_error:
            lines += ["", f"First {load.name} error: `{load.first_error}`"]
    return "\n".join(lines)


def cpu_ms_per_order(load: Load, name: str) -> float:
    """CPU time ``name`` spent per completed order during ``load``, in milliseconds."""
    if not load.completed_in_window:
        return float("nan")
    return load.cpu.get(name, 0.0) * load.window_s / load.completed_in_window * 1000


def windows_table(r: Results) -> list[str]:
    """Each order window apart, in the order they ran, and the spread between them."""
    if len(r.windows) <= 2:
        return []
    rows = [
        paragraph(
            f"The {len(r.windows)} order windows in the order they ran (with supply, without, "
            "then without, with: a machine growing busier or quieter weighs on both):"
        ),
        "",
        "| window | stock step | paid orders/s | p50 | p99 | POST p50 | supply CPU ms/order "
        "| order CPU ms/order |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, (with_supply, load, post) in enumerate(r.windows, 1):
        rows.append(
            f"| {n} | {'supply' if with_supply else 'none'} | {load.rate:,.2f} "
            f"| {load.p50_ms:.1f} ms | {load.p99_ms:.1f} ms | {post.p50_ms:.1f} ms "
            f"| {cpu_ms_per_order(load, 'supply'):.1f} | {cpu_ms_per_order(load, 'order'):.1f} |"
        )
    rates = {w: [o.rate for x, o, _ in r.windows if x == w] for w in (True, False)}
    pairs = []
    for i in range(0, len(r.windows) - 1, 2):
        first, second = r.windows[i][1], r.windows[i + 1][1]
        with_s, without = (first, second) if r.windows[i][0] else (second, first)
        pairs.append(with_s.rate / without.rate if without.rate else float("nan"))
    rows += [
        "",
        paragraph(
            f"Spread: with supply {min(rates[True]):,.2f}-{max(rates[True]):,.2f} paid "
            f"orders/s, without {min(rates[False]):,.2f}-{max(rates[False]):,.2f}; with ÷ "
            f"without in each adjacent pair {', '.join(times(p) for p in pairs)}."
        ),
        "",
    ]
    return rows


def supply_cost(r: Results) -> str:
    with_s, without = r.orders, r.orders_bare
    processes = ("supply", "order", "menu", "nats (shared)", "ferretdb (shared)")
    per_order = ", ".join(
        f"{name} {cpu_ms_per_order(with_s, name):.1f} vs {cpu_ms_per_order(without, name):.1f}"
        for name in processes
        if name in with_s.cpu
    )
    return (
        "What supply in the saga costs per order (same run; with supply vs without): "
        f"throughput {with_s.rate:,.1f} vs {without.rate:,.1f} paid orders/s "
        f"({ratio(with_s.rate, without.rate)}); order time p50 {with_s.p50_ms:.1f} vs "
        f"{without.p50_ms:.1f} ms ({with_s.p50_ms - without.p50_ms:+.1f} ms), p99 "
        f"{with_s.p99_ms:.1f} vs {without.p99_ms:.1f} ms; the POST alone p50 "
        f"{r.order_post.p50_ms:.1f} vs {r.order_post_bare.p50_ms:.1f} ms "
        f"({r.order_post.p50_ms - r.order_post_bare.p50_ms:+.1f} ms: the reservation by "
        "recipe, one expected-sequence append on the outlet's ledger). CPU milliseconds per "
        f"order: {per_order}."
    )


SECTION_INTRO = """## Ordering

`bench/ordering_bench.py` (`make bench`) starts the platform's processes with the launcher
(customer, menu, supply, payment, order, gateway, and the provider simulator in `instant`
mode, so a charge settles at once; rate limits set out of reach, logs at WARNING), seeds the
demo brand, opens its outlets around the clock and registers 8 customers. Then, through the
gateway on 127.0.0.1:

- **cached menu reads**: `GET /api/v1/outlets/outlet-01/menu` without a token, after one
  warm-up read that fills the cache;
- **orders**: `POST /api/v1/orders` (one m001 with two toppings, GoPay, a fresh
  `Idempotency-Key`) over the five demo outlets; an order's time runs from sending the POST
  to its `order.payment_completed` event being stored, observed by a core NATS subscription
  on `es.order.>` (the API is not polled). An order is in flight until it is paid, so the
  orders/s figure is paid orders per second. The saga holds the order's ingredients by
  recipe in the supply service (the demo outlets are stocked far beyond the run);
- **orders without supply**: the same load after restarting the order service with
  `ORDER_STOCK_SERVICE=none` (the saga without a stock step, a baseline only); the
  difference is what the supply step costs per order. Two windows of each, alternating
  with, without, without, with (ABBA), so that the machine's drift during the run weighs on
  both; the figures pool each kind's windows, and each window is listed apart.

The baseline, measured in the same run with the same client code before and after the
platform's loads, is a raw aiohttp hello-world process (one route, no middleware,
`json_response` of a menu-sized document). Each full run rewrites the block between the
markers below; notes after it stay.
"""


def write_doc(text: str) -> None:
    """Rewrite the figures between the Ordering section's markers, or add the section; the
    section's notes outside the markers and every other section stay as they are."""
    block = f"{BEGIN}\n{text}\n{END}"
    doc = DOC.read_text() if DOC.exists() else "# Performance\n"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + block + rest.split(END, 1)[1]
    elif "\n## Ordering\n" in doc:
        head, rest = doc.split("\n## Ordering\n", 1)
        tail = rest[rest.index("\n## ") + 1 :] if "\n## " in rest else ""
        doc = head + "\n" + SECTION_INTRO + "\n" + block + "\n" + ("\n" + tail if tail else "")
    else:
        doc = doc.rstrip() + "\n\n" + SECTION_INTRO + "\n" + block + "\n"
    DOC.write_text(doc)


def summary(r: Results) -> dict[str, float]:
    b = r.baseline
    return {
        "baseline_rps": round(b.rate, 1),
        "menu_rps": round(r.menu.rate, 1),
        "menu_throughput_ratio": round(r.menu.rate / b.rate, 4),
        "menu_p50_ratio": round(r.menu.p50_ms / b.p50_ms, 2),
        "menu_p99_ratio": round(r.menu.p99_ms / b.p99_ms, 2),
        "orders_per_s": round(r.orders.rate, 2),
        "orders_throughput_ratio": round(r.orders.rate / b.rate, 5),
        "order_p50_ms": round(r.orders.p50_ms, 1),
        "order_p99_ms": round(r.orders.p99_ms, 1),
        "order_post_p50_ms": round(r.order_post.p50_ms, 1),
        "order_errors": r.orders.errors,
        "orders_without_supply_per_s": round(r.orders_bare.rate, 2),
        "order_without_supply_p50_ms": round(r.orders_bare.p50_ms, 1),
        "order_post_without_supply_p50_ms": round(r.order_post_bare.p50_ms, 1),
        "supply_cpu_ms_per_order": round(cpu_ms_per_order(r.orders, "supply"), 2),
        "orders_with_over_without_supply": round(r.orders.rate / r.orders_bare.rate, 3)
        if r.orders_bare.rate
        else float("nan"),
    }


async def bounded(concurrency: int, read_s: float, order_s: float, rounds: int = 1) -> Results:
    """The run, cut short by SIGINT, SIGTERM or the deadline; each way out goes through the
    run's cleanup. (The handlers are installed even where SIGINT was inherited as ignored,
    as for a background job of a non-interactive shell.)"""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    async with asyncio.timeout(deadline_s(rounds)):
        return await bench(concurrency, read_s, order_s, rounds)


def deadline_s(rounds: int) -> float:
    """:data:`DEADLINE_S` for one round; each further round adds two order windows, their
    draining and the order service's restarts."""
    return DEADLINE_S + (rounds - 1) * 2 * (ORDER_S + ORDER_TIMEOUT_S + 20)


# The three runs of --tracing-cost: the environment each sets for the platform it starts.
TRACING_MODES: dict[str, dict[str, str | None]] = {
    "off": {"OTEL_SDK_DISABLED": "true"},
    # Every trace recorded and exported (what `make run` and the tests do).
    "all": {"OTEL_SDK_DISABLED": None, "OTEL_TRACES_SAMPLER": "parentbased_always_on"},
    # The chart's default: one trace in ten kept, decided at the root (the gateway).
    "sampled": {
        "OTEL_SDK_DISABLED": None,
        "OTEL_TRACES_SAMPLER": CHART_SAMPLER,
        "OTEL_TRACES_SAMPLER_ARG": CHART_SAMPLE_RATIO,
    },
}


def platform_cpu_ms_per_order(load: Load) -> float:
    """CPU per completed order summed over every process the run measured, except the
    collector (Jaeger), the load generator and the baseline server."""
    names = [n for n in load.cpu if not n.startswith(("jaeger", "client", "baseline"))]
    return sum(cpu_ms_per_order(load, name) for name in names)


def collector_cpu_ms_per_order(load: Load) -> float:
    return sum(cpu_ms_per_order(load, n) for n in load.cpu if n.startswith("jaeger"))


def tracing_cost(concurrency: int, read_s: float, order_s: float, rounds: int = 1) -> None:
    """The same run with tracing off, on for every trace, then sampled as the chart does
    (spans exported to the suite's Jaeger): the instrumentation's cost as ratios. Each run's
    orders are also divided by its own baseline, which cancels most of the machine's drift
    between the runs; CPU per order (summed over the platform's processes, and Jaeger's
    apart) says where the cost goes whatever the machine's load.

    With ``rounds`` > 1 the modes run in a mirrored order (off, all, sampled, then sampled,
    all, off, …), so a machine growing busier or quieter during the runs weighs on every mode
    alike; each ratio is the median over the rounds, with its lowest and highest beside it."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        raise SystemExit("OTEL_EXPORTER_OTLP_ENDPOINT is not set: source the infra.env first")
    modes = list(TRACING_MODES)
    runs: dict[str, list[Results]] = {mode: [] for mode in modes}
    for round_no in range(rounds):
        for mode in modes if round_no % 2 == 0 else reversed(modes):
            for name, value in TRACING_MODES[mode].items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            log(f"tracing {mode} (round {round_no + 1} of {rounds})")
            runs[mode].append(asyncio.run(bounded(concurrency, read_s, order_s)))

    def spread(values: list[float]) -> dict[str, float]:
        return {
            "median": round(statistics.median(values), 3),
            "min": round(min(values), 3),
            "max": round(max(values), 3),
        }

    off = runs["off"]
    figures: dict[str, object] = {
        "rounds": rounds,
        "orders_per_s_tracing_off": spread([r.orders.rate for r in off]),
        "order_p50_ms_off": spread([r.orders.p50_ms for r in off]),
        "platform_cpu_ms_per_order_off": spread([platform_cpu_ms_per_order(r.orders) for r in off]),
    }
    for mode in ("all", "sampled"):
        on = runs[mode]
        pairs = list(zip(on, off, strict=True))
        figures |= {
            f"orders_per_s_tracing_{mode}": spread([r.orders.rate for r in on]),
            f"orders_throughput_{mode}_over_off": spread(
                [a.orders.rate / b.orders.rate for a, b in pairs]
            ),
            f"orders_vs_baseline_{mode}_over_off": spread(
                [
                    (a.orders.rate / a.baseline.rate) / (b.orders.rate / b.baseline.rate)
                    for a, b in pairs
                ]
            ),
            f"menu_throughput_{mode}_over_off": spread(
                [a.menu.rate / b.menu.rate for a, b in pairs]
            ),
            f"order_p50_ms_{mode}": spread([r.orders.p50_ms for r in on]),
            f"platform_cpu_ms_per_order_{mode}": spread(
                [platform_cpu_ms_per_order(r.orders) for r in on]
            ),
            f"platform_cpu_{mode}_over_off": spread(
                [
                    platform_cpu_ms_per_order(a.orders) / platform_cpu_ms_per_order(b.orders)
                    for a, b in pairs
                ]
            ),
            f"jaeger_cpu_ms_per_order_{mode}": spread(
                [collector_cpu_ms_per_order(r.orders) for r in on]
            ),
        }
    print(json.dumps(figures))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-server", nargs=2, metavar=("PORT", "BYTES"), type=int)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--seconds", type=float, help="seconds per load (a shorter trial run)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/ alone")
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS,
        help="rounds of order windows with and without supply, alternating ABBA; with "
        "--tracing-cost, rounds of the three tracing runs in mirrored order",
    )  # fmt: skip
    parser.add_argument(
        "--tracing-cost", action="store_true",
        help="three runs (tracing off, every trace, 1 in 10 sampled): the cost as ratios",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.baseline_server:
        baseline_main(*args.baseline_server)
        return
    read_s, order_s = (args.seconds, args.seconds) if args.seconds else (READ_S, ORDER_S)
    if args.tracing_cost:
        tracing_cost(args.concurrency, read_s, order_s, max(1, args.rounds))
        return
    # Only a full run at the default settings is recorded.
    record = (
        not args.no_doc
        and args.seconds is None
        and args.concurrency == CONCURRENCY
        and args.rounds == ROUNDS
    )
    try:
        results = asyncio.run(bounded(args.concurrency, read_s, order_s, args.rounds))
    except asyncio.CancelledError:
        raise SystemExit("interrupted; everything the run started is stopped") from None
    except TimeoutError:
        raise SystemExit(
            f"stopped after {deadline_s(args.rounds):.0f}s; everything it started is stopped"
        ) from None
    text = report(results)
    print("\n" + text + "\n")
    print(json.dumps(summary(results)))
    if record:
        write_doc(text)
        print(f"written to {DOC.relative_to(ROOT)} (section Ordering)")


if __name__ == "__main__":
    main()
