"""A standing pull on a JetStream consumer: messages arrive as they are stored, and the
client asks for more only when most of what it asked for has come.

nats-py's ``PullSubscription.fetch`` sends a ``no_wait`` request and then, when nothing is
waiting, a lingering one, on every call. A consumer that takes one message at a time (the
common case: an order's events come one by one) therefore cost two requests and one or two
status replies per message, on top of the message and its ack (issue #9). Here one
request for ``batch`` messages stays open on the server (``expires``, with idle heartbeats)
and is topped up when half of it has been delivered, as the Go and Java clients'
``Consume`` do; the consumer's behaviour (explicit acks, ``max_ack_pending``, ordering,
redelivery) is the server's, unchanged.

What the client asked for and has not received is counted; the server's 408 (the request
expired) and 409 (it was ended) replies say how many of a request's messages will not come
(``Nats-Pending-Messages``). After a reconnect, or with no message and no heartbeat for
three heartbeats (a lost request), the count is reset and the pull asked again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

STATUS = "Status"
PENDING_MESSAGES = "Nats-Pending-Messages"
JS_API = "$JS.API"  # the bus's JetStream context uses the default prefix too


class StandingPull:
    def __init__(
        self,
        nc: Client,
        stream: str,
        durable: str,
        *,
        batch: int,
        expires_s: float = 5.0,
        heartbeat_s: float = 1.0,
    ) -> None:
        self.nc = nc
        self.batch = max(int(batch), 1)
        self.expires_s = expires_s
        self.heartbeat_s = heartbeat_s
        self._next = f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = ""
        self._sub: Subscription | None = None
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._asked = 0  # requested and neither delivered nor given up by the server
        self._heard = time.monotonic()
        self._reconnects = 0

    async def start(self) -> None:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(self._inbox, cb=self._on_message)
        self._reconnects = self.nc.stats["reconnects"]

    async def _on_message(self, msg: Msg) -> None:
        self._heard = time.monotonic()
        headers = msg.headers or {}
        status = headers.get(STATUS) if not msg.data else None
        if status is None:
            self._asked = max(self._asked - 1, 0)
            self._queue.put_nowait(msg)
        elif status in ("404", "408", "409"):  # no messages / expired / ended
            pending = headers.get(PENDING_MESSAGES)
            self._asked = max(self._asked - int(pending), 0) if pending else 0
        # 100: an idle heartbeat, proof that the request is alive

    async def _top_up(self) -> None:
        reconnects = self.nc.stats["reconnects"]
        lost = time.monotonic() - self._heard > 3 * self.heartbeat_s
        if reconnects != self._reconnects or (lost and self._asked):
            self._reconnects = reconnects
            self._asked = 0  # the server may have dropped them: ask again
        held = self._asked + self._queue.qsize()
        if held > self.batch // 2:
            return
        wanted = self.batch - held
        request = {
            "batch": wanted,
            "expires": int(self.expires_s * 1e9),
            "idle_heartbeat": int(self.heartbeat_s * 1e9),
        }
        await self.nc.publish(self._next, json.dumps(request).encode(), reply=self._inbox)
        self._asked += wanted
        self._heard = time.monotonic()

    async def next_batch(self, timeout: float) -> list[Msg]:
        """What has arrived, up to ``batch`` messages, waiting up to ``timeout`` for the
        first; an empty list when none came."""
        await self._top_up()
        try:
            first = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return []
        return [first, *self.take_queued(self.batch - 1)]

    def take_queued(self, limit: int | None = None) -> list[Msg]:
        """The messages delivered and not yet handed out, up to ``limit`` (all of them: to
        hand back at stop)."""
        msgs: list[Msg] = []
        while not self._queue.empty() and (limit is None or len(msgs) < limit):
            msgs.append(self._queue.get_nowait())
        return msgs

    async def unsubscribe(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
