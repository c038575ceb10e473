"""One client connection: its identity, its subscriptions, its send queue, and the
commands it sends (connect, refresh, subscribe, unsubscribe, presence, ping).

The transport (Tornado's websocket handler) is behind a two-method protocol, so this
module knows nothing about HTTP. Commands of one connection are handled one at a time, in
the order they arrive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from bobaku.hub.authorization import AuthorityUnavailable, ChannelAuthorizer, SubscriptionRefused
from bobaku.hub.broker import ChannelHistory, LiveFeed
from bobaku.hub.channels import Channel, Namespace, UnknownChannel, parse_channel
from bobaku.hub.fanout import Fanout, Subscription
from bobaku.hub.limits import ClientLimits, SendQueue
from bobaku.hub.metrics import (
    CONNECTIONS_ACCEPTED,
    DISCONNECTS,
    DROPS,
    MESSAGES_IN,
    MESSAGES_OUT,
    RECOVERED_PUBLICATIONS,
    RECOVERIES,
    SUBSCRIBE_REFUSALS,
)
from bobaku.hub.presence import KitchenPresence
from bobaku.hub.protocol import (
    PING_FRAME,
    PONG,
    CloseCode,
    CommandError,
    Connect,
    ErrorCode,
    Ping,
    PresenceQuery,
    ProtocolViolation,
    Refresh,
    Subscribe,
    Unsubscribe,
    error_reply,
    parse_frame,
    reply,
)
from bobaku.hub.recovery import Recovery, recover
from bobaku.hub.settings import HubSettings
from bobaku.kernel.auth import Principal, TokenVerifier
from bobaku.kernel.errors import Unauthorized

log = logging.getLogger(__name__)

_REPLIES_OUT = MESSAGES_OUT.labels("reply")
_PINGS_OUT = MESSAGES_OUT.labels("ping")
_PUBS_OUT = MESSAGES_OUT.labels("pub")
_PONGS_IN = MESSAGES_IN.labels("pong")
_SLOW_DROPS = DROPS.labels("slow_client")
_CLOSED_DROPS = DROPS.labels("closed")
_CLOSE_REASONS = {
    CloseCode.BAD_REQUEST: "bad_request",
    CloseCode.UNAUTHORIZED: "unauthorized",
    CloseCode.HEARTBEAT_TIMEOUT: "heartbeat_timeout",
    CloseCode.SLOW_CLIENT: "slow_client",
    CloseCode.SHUTDOWN: "shutdown",
    CloseCode.TOO_MANY_CONNECTIONS: "too_many_connections",
    CloseCode.MESSAGE_TOO_BIG: "message_too_big",
}


class Transport(Protocol):
    def write_message(self, message: bytes) -> Awaitable[None]: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


class Host(Protocol):
    """What a session uses of the hub around it (see ``app.Hub``)."""

    settings: HubSettings
    node_id: str
    limits: ClientLimits
    verifier: TokenVerifier
    authorizer: ChannelAuthorizer
    history: ChannelHistory
    feed: LiveFeed
    fanout: Fanout
    presence: KitchenPresence

    def forget(self, session: Session) -> None: ...

    def run_later(self, work: Awaitable[None]) -> None: ...


class Session:
    def __init__(self, host: Host, transport: Transport) -> None:
        self.host = host
        self.transport = transport
        self.id = f"c-{secrets.token_hex(6)}"
        self.queue = SendQueue(host.limits)
        self.principal: Principal | None = None
        # B105: an empty placeholder until the client authenticates, not a password
        self.token = ""  # nosec B105
        self.name: str | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self.closed = False
        self.awaiting_pong = False
        loop = asyncio.get_running_loop()
        self._expiry: asyncio.TimerHandle | None = loop.call_later(
            host.settings.hub_connect_timeout_s,
            self.close,
            CloseCode.UNAUTHORIZED,
            "unauthorized: no connect command in time",
        )

    # -- inbound -----------------------------------------------------------------------

    async def on_frame(self, raw: str | bytes) -> None:
        if self.closed:
            return
        try:
            command = parse_frame(raw)
        except ProtocolViolation as exc:
            MESSAGES_IN.labels("invalid").inc()
            self.close(CloseCode.BAD_REQUEST, f"bad request: {exc}")
            return
        except CommandError as exc:
            MESSAGES_IN.labels("invalid").inc()
            self._reply(error_reply(exc.command_id or 0, exc.code, exc.message, exc.details))
            return
        if command is PONG:
            self.pong()
            return
        op = getattr(command, "op", "?")
        MESSAGES_IN.labels(op).inc()
        if self.principal is None and not isinstance(command, Connect):
            self.close(CloseCode.UNAUTHORIZED, "unauthorized: send connect with your token first")
            return
        handler = self._handlers[type(command)]
        command_id: int = command.id  # type: ignore[attr-defined]
        try:
            result = await handler(self, command)
        except CommandError as exc:
            self._reply(error_reply(command_id, exc.code, exc.message, exc.details))
            return
        except Exception:
            log.exception("command %s failed", op, extra={"client": self.id})
            self._reply(
                error_reply(command_id, ErrorCode.INTERNAL, "internal error; see the hub log")
            )
            return
        if result is not None:
            self._reply(reply(command_id, result))

    async def _connect(self, command: Connect) -> dict[str, Any] | None:
        if self.principal is not None:
            raise CommandError(ErrorCode.ALREADY_CONNECTED, "this connection is already connected")
        try:
            who = self.host.verifier.verify(command.token)
        except Unauthorized as exc:
            self.close(CloseCode.UNAUTHORIZED, f"unauthorized: {exc.message}"[:120])
            return None
        self.principal, self.token, self.name = who, command.token, command.name
        expires_in = self._expire_at(who)
        CONNECTIONS_ACCEPTED.inc()
        return {
            "client": self.id,
            "node": self.host.node_id,
            "user": who.subject,
            "expires_in": expires_in,
            "ping_interval": self.host.settings.hub_ping_interval_s,
            "limits": self.host.limits.describe(),
        }

    async def _refresh(self, command: Refresh) -> dict[str, Any]:
        assert self.principal is not None
        try:
            who = self.host.verifier.verify(command.token)
        except Unauthorized as exc:
            raise CommandError(ErrorCode.FORBIDDEN, f"token refused: {exc.message}") from exc
        if who.subject != self.principal.subject:
            raise CommandError(ErrorCode.FORBIDDEN, "a refreshed token must be for the same user")
        self.principal, self.token = who, command.token
        return {"expires_in": self._expire_at(who)}

    async def _subscribe(self, command: Subscribe) -> None:
        channel = self._channel(command.channel)
        if channel.name in self.subscriptions:
            raise CommandError(ErrorCode.ALREADY_SUBSCRIBED, f"already subscribed to {channel}")
        if len(self.subscriptions) >= self.host.limits.max_subscriptions:
            self._refused(channel, ErrorCode.TOO_MANY_SUBSCRIPTIONS)
            raise CommandError(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"at most {self.host.limits.max_subscriptions} subscriptions per connection",
            )
        await self._authorize(channel)
        if self.closed:
            return None
        # Register first, then read: publications arriving meanwhile wait in `pending`.
        subscription = Subscription(channel, self)
        upto = self.host.feed.position
        self.subscriptions[channel.name] = subscription
        self.host.fanout.add(subscription)
        try:
            recovery = await self._recover(command, channel, upto)
        except Exception as exc:
            self._drop(subscription)
            log.warning("subscribe to %s failed: %r", channel, exc)
            raise CommandError(
                ErrorCode.UNAVAILABLE, "channel history is unavailable; retry shortly"
            ) from exc
        if self.closed:
            return None
        subscription.last_offset = recovery.offset
        result: dict[str, Any] = {
            "channel": channel.name,
            "epoch": self.host.history.epoch,
            "offset": recovery.offset,
            "presence": channel.namespace.has_presence,
        }
        if command.recover:
            result["recovered"] = recovery.recovered
            result["publications"] = [
                {"offset": p.offset, "data": json.loads(p.body)} for p in recovery.publications
            ]
            if recovery.reason is not None:
                result["reason"] = recovery.reason.value
        self._reply(reply(command.id, result))
        pending, subscription.pending = subscription.pending or [], None
        for publication in pending:
            if subscription.deliver(publication):
                _PUBS_OUT.inc()
        if channel.namespace.has_presence and not self.closed:
            try:
                await self.host.presence.join(channel.id, self.id, self._presence_info())
            except Exception as exc:  # the subscription stands; presence catches up on refresh
                log.warning("presence join on %s failed: %r", channel, exc)
        return None

    async def _recover(self, command: Subscribe, channel: Channel, upto: int) -> Recovery:
        if not command.recover:
            return Recovery(True, upto)
        recovery = await recover(
            self.host.history,
            channel,
            offset=command.offset,
            epoch=command.epoch,
            upto=upto,
            limit=self.host.settings.hub_recovery_max_publications,
        )
        outcome = "recovered" if recovery.recovered else str(recovery.reason)
        RECOVERIES.labels(outcome).inc()
        RECOVERED_PUBLICATIONS.inc(len(recovery.publications))
        return recovery

    async def _unsubscribe(self, command: Unsubscribe) -> dict[str, Any]:
        channel = self._channel(command.channel)
        subscription = self.subscriptions.get(channel.name)
        if subscription is None:
            raise CommandError(ErrorCode.NOT_SUBSCRIBED, f"not subscribed to {channel}")
        self._drop(subscription)
        return {"channel": channel.name}

    async def _presence(self, command: PresenceQuery) -> dict[str, Any]:
        channel = self._channel(command.channel)
        if not channel.namespace.has_presence:
            raise CommandError(ErrorCode.NO_PRESENCE, f"{channel} has no presence; kitchens do")
        if channel.name not in self.subscriptions:
            await self._authorize(channel)
        return {"channel": channel.name, "clients": self.host.presence.members(channel.id)}

    async def _ping(self, command: Ping) -> dict[str, Any]:
        return {}

    _handlers: dict[type, Callable[[Session, Any], Awaitable[dict[str, Any] | None]]] = {
        Connect: _connect,
        Refresh: _refresh,
        Subscribe: _subscribe,
        Unsubscribe: _unsubscribe,
        PresenceQuery: _presence,
        Ping: _ping,
    }

    # -- outbound ----------------------------------------------------------------------

    def send(self, frame: bytes) -> bool:
        """Queue one frame; a client whose queue is full is disconnected, never waited for."""
        if self.closed:
            _CLOSED_DROPS.inc()
            return False
        size = len(frame)
        if not self.queue.admits(size):
            _SLOW_DROPS.inc()
            limits = self.host.limits
            self.close(
                CloseCode.SLOW_CLIENT,
                f"slow client: over {limits.queue_frames} frames or "
                f"{limits.queue_bytes} bytes unsent",
            )
            return False
        try:
            written = self.transport.write_message(frame)
        except Exception:  # the socket is already gone; on_close follows
            _CLOSED_DROPS.inc()
            self.detach("lost")
            return False
        self.queue.added(size)
        asyncio.ensure_future(written).add_done_callback(partial(self._written, size))
        return True

    def _written(self, size: int, done: asyncio.Future[None]) -> None:
        self.queue.written(size)
        if not done.cancelled():
            done.exception()  # retrieved: a failed write means a closed socket, seen in on_close

    def pong(self) -> None:
        _PONGS_IN.inc()
        self.awaiting_pong = False

    def ping(self) -> None:
        """Called every ping interval: one unanswered ping means the client is gone."""
        if self.principal is None or self.closed:
            return
        if self.awaiting_pong:
            self.close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout: no pong")
            return
        self.awaiting_pong = True
        if self.send(PING_FRAME):
            _PINGS_OUT.inc()

    def push(self, frame: bytes) -> None:
        self.send(frame)

    def _reply(self, frame: bytes) -> None:
        if self.send(frame):
            _REPLIES_OUT.inc()

    # -- endings -----------------------------------------------------------------------

    def close(self, code: CloseCode, reason: str) -> None:
        """End the connection from the hub's side, telling the client why."""
        if self.closed:
            return
        self.detach(_CLOSE_REASONS.get(code, str(int(code))))
        try:
            self.transport.close(int(code), reason[:120])
        except Exception as exc:
            log.debug("close failed: %r", exc)

    def detach(self, reason: str) -> None:
        """Forget every subscription; after this the session sends nothing."""
        if self.closed:
            return
        self.closed = True
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        for subscription in list(self.subscriptions.values()):
            self._drop(subscription)
        DISCONNECTS.labels(reason).inc()
        self.host.forget(self)

    def _drop(self, subscription: Subscription) -> None:
        self.subscriptions.pop(subscription.channel.name, None)
        self.host.fanout.remove(subscription)
        if subscription.channel.namespace is Namespace.KITCHEN:
            self.host.run_later(self.host.presence.leave(subscription.channel.id, self.id))

    # -- helpers -----------------------------------------------------------------------

    def _channel(self, name: str) -> Channel:
        try:
            return parse_channel(name)
        except UnknownChannel as exc:
            raise CommandError(ErrorCode.UNKNOWN_CHANNEL, str(exc)) from exc

    async def _authorize(self, channel: Channel) -> None:
        assert self.principal is not None
        try:
            await self.host.authorizer.authorize(self.principal, self.token, channel)
        except SubscriptionRefused as exc:
            self._refused(channel, ErrorCode.FORBIDDEN)
            raise CommandError(ErrorCode.FORBIDDEN, f"not allowed on {channel}: {exc}") from exc
        except AuthorityUnavailable as exc:
            self._refused(channel, ErrorCode.UNAVAILABLE)
            log.warning("authorization of %s unavailable: %s", channel, exc)
            raise CommandError(
                ErrorCode.UNAVAILABLE, f"cannot check access to {channel} now; retry shortly"
            ) from exc

    @staticmethod
    def _refused(channel: Channel, code: ErrorCode) -> None:
        SUBSCRIBE_REFUSALS.labels(channel.namespace.value, code.value).inc()

    def _expire_at(self, who: Principal) -> float:
        """Close the connection when its token expires; returns the seconds left."""
        if self._expiry is not None:
            self._expiry.cancel()
        left = max(0.0, float(who.claims.get("exp", 0)) - time.time())
        self._expiry = asyncio.get_running_loop().call_later(
            left, self.close, CloseCode.UNAUTHORIZED, "unauthorized: token expired"
        )
        return round(left, 3)

    def _presence_info(self) -> dict[str, Any]:
        assert self.principal is not None
        return {
            "client": self.id,
            "user": self.principal.subject,
            "name": self.principal.claims.get("name"),
            "display": self.name,
            "node": self.host.node_id,
            "since": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
