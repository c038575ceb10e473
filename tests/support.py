"""Helpers for tests that wait on real servers and processes."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from bobaku.kernel.auth import Role, TokenIssuer

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], *, timeout: float = 10.0, interval: float = 0.05
) -> T:
    """Poll ``probe`` until it returns a truthy value; fail with its last value or error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = await probe()
        except AssertionError as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last result: {last!r}")


async def delete_deployment(js: Any, names: Any) -> None:
    """Delete every stream and key-value bucket of a test's own deployment (kernel/names.py)."""
    assert names.isolated, "the default deployment's streams are the suite's"
    owned = (names.stream(""), f"KV_{names.bucket('')}")
    for info in await js.streams_info():
        if (info.config.name or "").startswith(owned):
            await js.delete_stream(info.config.name)


def free_port() -> int:
    """A free port below the kernel's ephemeral range (32768+), where outgoing connections
    could otherwise take it between our check and the server's bind."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found in 20000-32000")


class CuttableLink:
    """A TCP forwarder on loopback between one process and a server the suite shares.

    ``cut()`` refuses new connections and breaks the open ones, as a server that went away
    would (the process sees resets, then refusals); ``restore()`` listens on the same port
    again. It runs its own event loop in a thread, so a test blocked in a subprocess call
    never stalls the traffic it carries.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.accepted = 0  # connections taken while up, for the tests' evidence
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="link", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def up(self) -> bool:
        return self._server is not None

    def start(self) -> CuttableLink:
        self._thread.start()
        self.restore()
        return self

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, upstream}
        self._open |= pair

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()

        try:
            await asyncio.gather(pipe(reader, upstream), pipe(upstream_reader, writer))
        finally:
            self._open -= pair

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()

    def cut(self) -> None:
        self._run(self._cut())

    def restore(self) -> None:
        if self._server is None:
            self._run(self._listen())

    async def _drain(self) -> None:
        await self._cut()
        for _ in range(100):  # the pipes end once their transports are gone
            if not self._open:
                return
            await asyncio.sleep(0.01)

    def close(self) -> None:
        self._run(self._drain())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def seed_order_data(**overrides: Any) -> dict[str, Any]:
    """The ``order.created`` data of the brief's example event."""
    data: dict[str, Any] = {
        "order_id": "ord-20231015-789",
        "user_id": "u456",
        "outlet_id": "outlet-23",
        "items": [
            {
                "menu_id": "m001",
                "quantity": 2,
                "customizations": {
                    "sugar_level": 50,
                    "ice_level": 30,
                    "toppings": ["t001", "t003"],
                },
            }
        ],
        "total_amount": 82000,
        "payment_method": "gopay",
        "status": "pending_payment",
    }
    data.update(overrides)
    return data


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None = None,
    **kw: Any,
) -> tuple[int, Any]:
    headers = dict(kw.pop("headers", {}))
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(method, url, headers=headers, **kw) as resp:
        try:
            return resp.status, await resp.json()
        except aiohttp.ContentTypeError:
            return resp.status, await resp.text()


async def register_customer(http: aiohttp.ClientSession, gw: str) -> tuple[str, str]:
    """A newly registered customer, through the gateway: its access token and user id."""
    email = f"cust-{secrets.token_hex(5)}@example.com"
    status, body = await call(
        http, "POST", f"{gw}/api/v1/auth/register",
        json={"email": email, "password": "boba-lover-99", "name": "Rina Test", "language": "id"},
    )  # fmt: skip
    assert status == 201, body
    return str(body["data"]["tokens"]["access_token"]), str(body["data"]["user"]["id"])


async def customer_token(http: aiohttp.ClientSession, gw: str) -> str:
    """A newly registered customer's access token, through the gateway."""
    return (await register_customer(http, gw))[0]


ARTIFACTS = Path(__file__).resolve().parents[1] / ".run" / "test-artifacts" / "platform"


@dataclass
class RunningPlatform:
    platform: Any
    gateway: str
    envs: dict[str, dict[str, str]]
    ports: dict[str, int]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"


# Payment intents expire fast here so the timeout path runs in seconds, yet slowly enough
# that a payment service restarted mid-saga (a crash test) is back before its intent lapses.
INTENT_TTL_S = 20


def platform_settings(settings: Any, smtp_port: int) -> dict[str, str]:
    """The environment of a whole platform started by a test (on top of each process's own
    from ``launcher.environment``), on the servers ``settings`` names."""
    return {
        "NATS_URL": settings.nats_url,
        # The suite's streams, subjects and buckets (kernel/names.py), whatever DEPLOYMENT_ID.
        "NATS_DEPLOYMENT_ID": settings.nats_names.deployment_id,
        "REDIS_URL": settings.redis_url,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DB_PREFIX": f"{settings.mongodb_db_prefix}p",
        "DEPLOYMENT_ID": f"{settings.deployment_id}-p",
        "CONSUMERS_START_AT": "new",
        "ENVIRONMENT": "test",
        "OTEL_SDK_DISABLED": "false",  # traced to the suite's Jaeger (docs/observability.md)
        "PAYMENT_INTENT_TTL_S": str(INTENT_TTL_S),
        "LOGIN_RATE_LIMIT_PER_MINUTE": "10000",
        # The authorization matrix and the fuzzing send thousands of requests from this one
        # address in a minute (the limits themselves are tested in tests/services/gateway).
        "IP_RATE_LIMIT_PER_MINUTE": "1000000",
        "ANONYMOUS_RATE_LIMIT_PER_MINUTE": "1000000",
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "LOG_LEVEL": "INFO",
        # The simulated providers behave unless a test says otherwise (/_control/.../next).
        "PROVIDER_SETTLEMENT_DELAY_S": "0.3",
        "PROVIDER_FAILURE_RATE": "0",
        "PROVIDER_TIMEOUT_RATE": "0",
        "PROVIDER_DUPLICATE_RATE": "0",
        "PROVIDER_REORDER_RATE": "0",
        # Notifications: the suite's Mailpit, and back-off short enough for a test.
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "IN_APP_RETRY_DELAYS_S": "[0.2, 0.5]",
        "EMAIL_RETRY_DELAYS_S": "[0.3, 0.6, 1.0]",
        "PUSH_RETRY_DELAYS_S": "[0.3, 0.6]",
        "EMAIL_TRIES": "60",
        "PUSH_RECEIPT_DELAY_S": "0.2",
        # Short, so that failures other tests caused have left the window within one test.
        "PROVIDER_FAILURE_WINDOW_S": "20",
        # An order's service target: 20 s after the kitchen gets a one-drink order (its
        # estimate is 4 minutes out), so the late-order alert shows within a test.
        "LATE_GRACE_S": "-220",
        # Every process logs the MongoDB commands it sends (test_storage_rule.py).
        "MONGODB_COMMAND_LOG": str(ARTIFACTS / "mongo-commands"),
        # The loyalty expiry job walks its calendar often enough for a test to see it.
        "LOYALTY_EXPIRY_INTERVAL_S": "0.5",
        # An analytics process killed by a test leaves its metrics lease behind: the one
        # restarted in its place exports after this (the suite scrapes every 5 s).
        "ANALYTICS_METRICS_LEASE_S": "15",
    }


DEMO_OUTLETS = {
    "fr-jakarta": ("outlet-01", "outlet-02", "outlet-03"),
    "fr-bandung": ("outlet-04", "outlet-05"),
}


async def open_all_day(procs: list[Any], issuer: TokenIssuer) -> None:
    """The demo outlets open 10:00-22:00 Jakarta time; tests must not depend on the clock,
    so their owners open them around the clock, through the public API."""
    gateway = next(p for p in procs if p.name == "gateway")
    week = {day: [{"open": "00:00", "close": "24:00"}] for day in DAYS}
    async with aiohttp.ClientSession() as http:
        for franchise, outlets in DEMO_OUTLETS.items():
            owner = issuer.issue(
                f"u-owner-{franchise}", [Role.FRANCHISE_OWNER], franchise_id=franchise
            )
            for outlet in outlets:
                async with http.put(
                    f"http://127.0.0.1:{gateway.port}/api/v1/outlets/{outlet}/hours",
                    json={"opening_hours": week},
                    headers={"Authorization": f"Bearer {owner}"},
                ) as resp:
                    assert resp.status == 200, await resp.text()


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


FIGURES = ARTIFACTS.parent / "figures"


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """A test family's figures, for the pentest report (`make security-figures` rewrites its
    figures block from these files: scripts/security_figures.py)."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    figures = {"recorded_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **figures}
    (FIGURES / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
