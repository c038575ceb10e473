"""What the hub's tests drive it with: real hub processes, a real websocket client, and the
source streams the order and payment services write (no mocks of our own parts)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
from support import eventually, free_port

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EventBus
from bobaku.kernel.events import Event, SchemaRegistry, new_event
from bobaku.kernel.eventstore import AggregateStore

# Timing knobs no machine load exceeds within a test: no heartbeat (a client whose pong is
# late on a loaded machine is not taken for a dead one), ten minutes to send connect and ten
# for a closed client to read up to its close frame.
STEADY_HUB_ENV = {
    "HUB_PING_INTERVAL_S": "600",
    "HUB_CONNECT_TIMEOUT_S": "600",
    "HUB_CLOSE_GRACE_S": "600",
}


class HubProcess:
    """``python -m bobaku.hub`` on a free port, its log in a file."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = {**os.environ, **env, "HTTP_PORT": str(self.port), "HUB_NODE_ID": name}
        self.log_path = log_dir / f"hub-{name}.log"
        # Not the repository root: `python -m` puts the working directory first on sys.path,
        # and the root's operator/ folder would shadow the standard library's operator.
        self.cwd = log_dir
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def start(self) -> HubProcess:
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bobaku.hub", env=self.env, stdout=log, stderr=log, cwd=self.cwd
        )
        log.close()

        async def ready() -> bool:
            if self.proc is not None and self.proc.returncode is not None:
                raise RuntimeError(f"hub {self.name} exited:\n{self.log_tail()}")
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"{self.url}/readyz") as resp,
                ):
                    return resp.status == 200
            except aiohttp.ClientConnectionError:
                return False

        await eventually(ready, timeout=30, interval=0.1)
        return self

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return proc.returncode if proc else None
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        return proc.returncode

    async def metrics(self) -> str:
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/metrics") as resp:
            return await resp.text()

    async def metric(self, name: str, **labels: str) -> float:
        """The value of one sample (0 when absent)."""
        text = await self.metrics()
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
            if not match or match.group(1) != name:
                continue
            found = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if found == wanted:
                return float(match.group(3))
        return 0.0


class HubClient:
    """A websocket client speaking the hub protocol; replies and pushes kept apart."""

    # Connects tried again (see :meth:`connected`), over the whole session: a figure.
    retried: ClassVar[int] = 0

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.pings = 0
        self.auto_pong = True
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed = asyncio.Event()
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._reading = asyncio.Event()
        self._reading.set()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> HubClient:
        http = aiohttp.ClientSession()
        try:
            ws = await http.ws_connect(url, autoping=True, max_msg_size=0)
        except Exception:
            await http.close()
            raise
        return cls(http, ws)

    @classmethod
    async def connected(
        cls, url: str, token: str, name: str | None = None, *, attempts: int = 1
    ) -> HubClient:
        """Open and authenticate. With ``attempts`` > 1, a connect the hub refused or closed
        on the way (a loaded machine: a full accept backlog, a handshake cut short) is tried
        again after a short back-off, as a real screen does; a refused token is not."""
        for attempt in range(attempts):
            try:
                return await cls._connect_once(url, token, name)
            except (OSError, aiohttp.ClientError, ConnectionError, TimeoutError):
                if attempt + 1 >= attempts:
                    raise
                HubClient.retried += 1
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
        raise AssertionError("unreachable")

    @classmethod
    async def _connect_once(cls, url: str, token: str, name: str | None) -> HubClient:
        client = await cls.open(url)
        try:
            reply = await client.call("connect", token=token, **({"name": name} if name else {}))
            assert "result" in reply, reply
        except BaseException:
            await client.close()  # nothing of a failed connect is left open
            raise
        return client

    async def _read(self) -> None:
        try:
            while True:
                await self._reading.wait()
                msg = await self.ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    frame = json.loads(msg.data)
                    if "id" in frame:
                        future = self._replies.pop(frame["id"], None)
                        if future is not None and not future.done():
                            future.set_result(frame)
                    elif frame.get("type") == "ping":
                        self.pings += 1
                        if self.auto_pong:
                            await self.ws.send_str('{"op":"pong"}')
                    else:
                        await self.pushes.put(frame)
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING):
                    self.close_code = msg.data if isinstance(msg.data, int) else self.ws.close_code
                    self.close_reason = msg.extra
                    break
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    self.close_code = self.ws.close_code
                    break
        except Exception:
            self.close_code = self.close_code or self.ws.close_code
        finally:
            self.closed.set()
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(ConnectionError("hub closed the connection"))

    def pause(self) -> None:
        """Stop reading: the hub sees a client that does not keep up."""
        self._reading.clear()

    def resume(self) -> None:
        self._reading.set()

    async def send_raw(self, text: str) -> None:
        await self.ws.send_str(text)

    async def call(self, op: str, timeout: float = 10, **fields: Any) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[ident] = future
        await self.ws.send_str(json.dumps({"id": ident, "op": op, **fields}))
        return await asyncio.wait_for(future, timeout)

    async def subscribe(self, channel: str, **fields: Any) -> dict[str, Any]:
        return await self.call("subscribe", channel=channel, **fields)

    async def next_push(self, timeout: float = 10) -> dict[str, Any]:
        return await asyncio.wait_for(self.pushes.get(), timeout)

    async def publications(
        self, count: int, channel: str | None = None, timeout: float = 15
    ) -> list[dict[str, Any]]:
        """The next ``count`` publications (of ``channel`` if given), skipping other pushes."""
        got: list[dict[str, Any]] = []

        async def collect() -> None:
            while len(got) < count:
                push = await self.pushes.get()
                if push.get("type") == "pub" and (channel is None or push["channel"] == channel):
                    got.append(push)

        try:
            await asyncio.wait_for(collect(), timeout)
        except TimeoutError as exc:
            raise AssertionError(f"got {len(got)} of {count} publications") from exc
        return got

    async def wait_closed(self, timeout: float = 10) -> tuple[int | None, str | None]:
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code, self.close_reason

    async def close(self) -> None:
        self._reading.set()
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        await self.http.close()


def permissive_registry(types: Iterable[str]) -> SchemaRegistry:
    """The producers' own schemas are theirs to test; the hub only reads envelopes."""
    registry = SchemaRegistry()
    for event_type in types:
        registry.register(event_type, "1.0", {"type": "object"})
    return registry


ORDER_TYPES = (
    "order.created",
    "order.payment_completed",
    "order.being_prepared",
    "order.ready",
    "order.recalled",
    "order.completed",
    "order.cancelled",
    "order.refunded",
)
PAYMENT_TYPES = ("payment.captured", "payment.refunded", "payment.intent_created")


class Producers:
    """Writes the source streams as the order and payment services do (aggregate appends)."""

    def __init__(self, bus: EventBus) -> None:
        shared = EventBus(bus.nc, permissive_registry(ORDER_TYPES + PAYMENT_TYPES), names=bus.names)
        self.orders = AggregateStore(shared, "order")
        self.payments = AggregateStore(shared, "payment")
        self.bus = bus
        self._seq: dict[str, int] = {}

    async def order_event(
        self,
        franchise: str,
        order_id: str,
        event_type: str,
        *,
        outlet_id: str,
        customer_id: str = "u-000000000001",
        **data: Any,
    ) -> Event:
        event = new_event(
            event_type,
            {"order_id": order_id, "outlet_id": outlet_id, "customer_id": customer_id, **data},
            source="order-service",
            tenant=franchise,
        )
        await self._append(self.orders, franchise, order_id, event)
        return event

    async def payment_event(
        self, franchise: str, intent_id: str, event_type: str = "payment.captured", **data: Any
    ) -> Event:
        event = new_event(
            event_type,
            {"intent_id": intent_id, "franchise_id": franchise, **data},
            source="payment-service",
            tenant=franchise,
        )
        await self._append(self.payments, franchise, intent_id, event)
        return event

    async def _append(self, store: AggregateStore, tenant: str, ident: str, event: Event) -> None:
        subject = store.subject(tenant, ident)
        expected = self._seq.get(subject)
        if expected is None:
            expected = await store.last_seq(subject)
        self._seq[subject] = await store.append(subject, [event], expected)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


class Tokens:
    def __init__(self, issuer: TokenIssuer) -> None:
        self.issuer = issuer

    def customer(self, user_id: str, ttl_s: int = 900) -> str:
        return self.issuer.issue(user_id, [Role.CUSTOMER], ttl_s=ttl_s)

    def staff(self, outlet_id: str, franchise: str, user_id: str | None = None) -> str:
        return self.issuer.issue(
            user_id or new_id("u"), [Role.STAFF], franchise_id=franchise, outlet_ids=[outlet_id]
        )

    def owner(self, franchise: str) -> str:
        return self.issuer.issue(new_id("u"), [Role.FRANCHISE_OWNER], franchise_id=franchise)

    def hq(self) -> str:
        return self.issuer.issue(new_id("u"), [Role.HQ_ADMIN])
