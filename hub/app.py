"""The hub process: its parts wired together, its HTTP routes, its start and its stop.

Routes:

- ``/ws``: the websocket (protocol: ``docs/hub-protocol.md``)
- ``/healthz``, ``/readyz``: liveness; readiness (NATS reachable, not draining)
- ``/metrics``: Prometheus
- ``/kds``, ``/track``, ``/static/*``, ``/config.js``: the kitchen display and order
  tracking pages, and the settings they read
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import signal
import socket
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler, StaticFileHandler
from tornado.websocket import WebSocketHandler, WebSocketProtocol13

from bobaku.hub.authorization import ChannelAuthorizer
from bobaku.hub.broker import ChannelHistory, ChannelRouter, LiveFeed
from bobaku.hub.channels import kitchen_channel
from bobaku.hub.fanout import Fanout
from bobaku.hub.limits import ClientLimits
from bobaku.hub.metrics import (
    CLOSE_ABORTS,
    CONNECTIONS,
    DISCONNECTS,
    EVENT_LOOP_LAG,
    MESSAGES_OUT,
)
from bobaku.hub.presence import KitchenPresence
from bobaku.hub.protocol import PONG_FRAME, CloseCode, presence_frame
from bobaku.hub.session import Session
from bobaku.hub.settings import HubSettings
from bobaku.kernel.auth import TokenVerifier
from bobaku.kernel.bus import EventBus
from bobaku.kernel.client import ServiceClient
from bobaku.kernel.outlets import OutletDirectory
from bobaku.kernel.web import verifier_from_settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
PAGES = {"kds": "kds.html", "track": "track.html"}
# How often a slot of sessions is pinged (see Hub._ping_slots).
PING_SLOT_S = 0.1


class Hub:
    """The composition root: connections, history, router, feed, presence and sessions."""

    def __init__(self, settings: HubSettings) -> None:
        self.settings = settings
        self.node_id = settings.node_id
        self.limits = ClientLimits.from_settings(settings)
        self.verifier: TokenVerifier = verifier_from_settings(settings)
        self.fanout = Fanout()
        self.sessions: set[Session] = set()
        # Sessions are pinged in slots, one slot every PING_SLOT_S, so that a ping round
        # over thousands of clients (and their pongs) is spread over the interval. With one
        # slot a second, 10,000 clients meant 400 pings and 400 pongs in one burst each
        # second: a stall of tens of ms that every publication behind it waited for (the
        # hub's p99 at low rates in docs/performance.md, Hub).
        self._ping_slots: list[set[Session]] = [
            set() for _ in range(max(1, math.ceil(settings.hub_ping_interval_s / PING_SLOT_S)))
        ]
        self._next_slot = 0
        self.draining = False
        self._background: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        settings = self.settings
        self.bus = await EventBus.connect(settings)
        self.http = aiohttp.ClientSession()
        self.outlets = OutletDirectory(
            ServiceClient(
                "menu",
                settings.menu_url,
                timeout_s=settings.hub_upstream_timeout_s,
                session=self.http,
            ),
            ttl_s=settings.hub_outlet_cache_s,
        )
        await self.outlets.follow(self.bus)
        self.authorizer = ChannelAuthorizer(settings, self.http, self.outlets)
        self.history = ChannelHistory(self.bus, settings)
        last = await self.history.start()
        self.feed = LiveFeed(self.bus, settings, self.fanout.deliver)
        await self.feed.start(after=last)
        self.presence = KitchenPresence(
            self.bus,
            settings.hub_presence_bucket,
            settings.hub_presence_ttl_s,
            self._on_presence,
            scope=settings.deployment_id,
        )
        await self.presence.start()
        self.router = ChannelRouter(self.bus, self.history, settings)
        await self.router.start()
        self._heartbeat = asyncio.create_task(self._ping_every_interval(), name="heartbeat")
        self._lag = asyncio.create_task(self._measure_loop_lag(), name="loop-lag")
        log.info(
            "hub %s ready: stream %s (epoch %s) from sequence %d",
            self.node_id,
            settings.hub_stream,
            self.history.epoch,
            last,
        )

    async def stop(self) -> None:
        """Stop routing, tell every client to reconnect elsewhere, then close connections."""
        self.draining = True
        await self.bus.stop_consumers(self.settings.shutdown_timeout_s)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._lag.cancel()
        for session in list(self.sessions):
            session.close(CloseCode.SHUTDOWN, "shutdown: this hub is stopping; reconnect")
        await self.presence.stop()
        await self.feed.stop()
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        await self.outlets.stop()
        await self.http.close()
        await self.bus.close()

    async def ready(self) -> dict[str, str]:
        report: dict[str, str] = {}
        try:
            if not self.bus.nc.is_connected:
                raise ConnectionError("not connected to NATS")
            await asyncio.wait_for(self.bus.js.account_info(), 1.5)
            report["nats"] = "ok"
        except Exception as exc:
            report["nats"] = f"down: {type(exc).__name__}: {exc}"[:200]
        return report

    # -- what sessions use ---------------------------------------------------------------

    def admit(self, session: Session) -> None:
        self.sessions.add(session)
        self._ping_slots[self._next_slot % len(self._ping_slots)].add(session)
        self._next_slot += 1
        CONNECTIONS.inc()

    def forget(self, session: Session) -> None:
        if session in self.sessions:
            self.sessions.discard(session)
            for slot in self._ping_slots:
                slot.discard(session)
            CONNECTIONS.dec()

    def run_later(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background work failed: %r", task.exception())

    # -- presence and heartbeats ---------------------------------------------------------

    def _on_presence(self, kind: str, outlet_id: str, info: dict[str, Any]) -> None:
        channel = kitchen_channel(outlet_id)
        subscribers = self.fanout.subscribers(channel.name)
        if not subscribers:
            return
        frame = presence_frame("join" if kind == "join" else "leave", channel.name, info)
        for subscription in subscribers:
            if subscription.pending is None:
                subscription.session.push(frame)
        MESSAGES_OUT.labels(kind).inc(len(subscribers))

    async def _measure_loop_lag(self, every_s: float = 0.25) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + every_s
            await asyncio.sleep(every_s)
            EVENT_LOOP_LAG.observe(max(0.0, loop.time() - due))

    async def _ping_every_interval(self) -> None:
        """Each session is pinged once per interval, its slot's turn."""
        tick = self.settings.hub_ping_interval_s / len(self._ping_slots)
        turn = 0
        while True:
            await asyncio.sleep(tick)
            for session in list(self._ping_slots[turn % len(self._ping_slots)]):
                session.ping()
            turn += 1


# -- HTTP ---------------------------------------------------------------------------------


class ClientSocket(WebSocketHandler):
    """One websocket client; the protocol lives in :class:`Session`."""

    def initialize(self, hub: Hub) -> None:
        self.hub = hub
        self.session: Session | None = None

    def check_origin(self, origin: str) -> bool:
        # Clients authenticate with a token inside the connection, never with cookies, so a
        # page from another origin gains nothing it could not do with the token itself.
        return True

    def open(self, *args: str, **kwargs: str) -> None:
        hub = self.hub
        if hub.draining:
            DISCONNECTS.labels("shutdown").inc()
            self.close(CloseCode.SHUTDOWN, "shutdown: this hub is stopping; reconnect")
            return
        if len(hub.sessions) >= hub.settings.hub_max_connections:
            DISCONNECTS.labels("too_many_connections").inc()
            self.close(CloseCode.TOO_MANY_CONNECTIONS, "this hub is full; retry later")
            return
        self.set_nodelay(True)
        buffer = hub.settings.hub_socket_send_buffer_bytes
        stream = self.ws_connection.stream if self.ws_connection is not None else None
        if buffer and stream is not None and stream.socket is not None:
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
        self.session = Session(hub, self)
        hub.admit(self.session)

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        session = self.session
        if session is None:
            return None
        if message == PONG_FRAME:  # the most frequent frame by far: no coroutine for it
            session.pong()
            return None
        return session.on_frame(message)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Send the close frame; a client that has not answered it within
        ``HUB_CLOSE_GRACE_S`` has its socket aborted.

        Tornado aborts after a fixed 5 s. A client dropped for being slow must first read
        every frame queued ahead of the close frame, so the grace is the hub's setting:
        Tornado's timer (``WebSocketProtocol13._waiting``, Tornado 6) is replaced by one of
        that length, which Tornado cancels as its own when the client answers or the socket
        ends. ``tests/hub/test_fanout.py`` checks both outcomes.
        """
        connection = self.ws_connection
        super().close(code, reason)
        if not isinstance(connection, WebSocketProtocol13) or connection._waiting is None:
            return
        loop = connection.stream.io_loop
        loop.remove_timeout(connection._waiting)
        connection._waiting = loop.call_later(
            self.hub.settings.hub_close_grace_s, self._abort_unanswered, connection
        )

    @staticmethod
    def _abort_unanswered(connection: WebSocketProtocol13) -> None:
        CLOSE_ABORTS.inc()
        connection._abort()

    def on_close(self) -> None:
        if self.session is not None:
            reason = "message_too_big" if self.close_code == CloseCode.MESSAGE_TOO_BIG else "client"
            self.session.detach(reason)


class HubHandler(RequestHandler):
    def initialize(self, hub: Hub) -> None:
        self.hub = hub

    def envelope(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": "success", "data": data}))


class Healthz(HubHandler):
    def get(self) -> None:
        self.envelope({"alive": True, "service": self.hub.settings.service_name})


class Readyz(HubHandler):
    async def get(self) -> None:
        report = await self.hub.ready()
        ready = not self.hub.draining and all(v == "ok" for v in report.values())
        body = {"ready": ready, "draining": self.hub.draining, "dependencies": report}
        if ready:
            self.envelope(body)
            return
        self.set_status(503)
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {
                    "status": "error",
                    "error": {"code": "not_ready", "message": "not ready", "details": body},
                }
            )
        )


class Metrics(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest())


class Page(HubHandler):
    def get(self, page: str) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish((STATIC / PAGES[page]).read_bytes())


class ConfigScript(HubHandler):
    """What the pages need to know, as a script: ``window.BOBAKU_CONFIG = {...}``."""

    def get(self) -> None:
        s = self.hub.settings
        config = {
            "gatewayUrl": s.gateway_public_url.rstrip("/"),
            "hubWsUrl": s.hub_public_ws_url or None,
            "kdsTargetSeconds": s.kds_target_s,
            "kdsWarnSeconds": s.kds_warn_s,
        }
        self.set_header("Content-Type", "application/javascript; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(f"window.BOBAKU_CONFIG = {json.dumps(config)};\n")


def build_app(hub: Hub) -> Application:
    args = {"hub": hub}
    return Application(
        [
            (r"/ws", ClientSocket, args),
            (r"/healthz", Healthz, args),
            (r"/readyz", Readyz, args),
            (r"/metrics", Metrics),
            (r"/(kds|track)", Page, args),
            (r"/config\.js", ConfigScript, args),
            (r"/static/(.*)", StaticFileHandler, {"path": str(STATIC)}),
        ],
        websocket_max_message_size=hub.settings.hub_max_message_bytes,
        compress_response=True,
    )


def tune_garbage_collector(threshold: int) -> None:
    """Everything built so far lives as long as the process: keep it out of collections,
    and collect the young generation less often (see ``HUB_GC_THRESHOLD``)."""
    gc.collect()
    gc.freeze()
    if threshold:
        _, second, third = gc.get_threshold()
        gc.set_threshold(threshold, second, third)


async def serve(settings: HubSettings) -> None:
    """Run until SIGTERM or SIGINT, then drain: clients are told to reconnect elsewhere."""
    hub = Hub(settings)
    await hub.start()
    tune_garbage_collector(settings.hub_gc_threshold)
    server = HTTPServer(build_app(hub), idle_connection_timeout=60)
    sockets = bind_sockets(
        settings.http_port, settings.http_host, backlog=settings.hub_listen_backlog
    )
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    log.info("starting %s on http://%s:%d", settings.service_name, settings.http_host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping %s", settings.service_name)
    hub.draining = True
    server.stop()
    await hub.stop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.close_all_connections(), settings.shutdown_timeout_s)
    log.info("%s stopped", settings.service_name)
