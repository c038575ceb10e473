"""The hub's JSON protocol over websocket text frames (docs/hub-protocol.md is its guide).

Client → hub: commands ``{"id": <n>, "op": "...", ...}``; the reply carries the same id,
either ``{"id": n, "result": {...}}`` or ``{"id": n, "error": {"code", "message",
"details"}}``. The one exception is ``{"op": "pong"}``, the answer to a hub ping, which
has no id and gets no reply.

Hub → client: replies, and pushes ``{"type": "pub" | "join" | "leave" | "ping", ...}``.
"""

from __future__ import annotations

import json
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MAX_COMMAND_ID = 2**53 - 1  # what a JavaScript number holds exactly


class ErrorCode(StrEnum):
    """Codes in ``error.code`` of a command reply."""

    BAD_REQUEST = "bad_request"
    UNKNOWN_OP = "unknown_op"
    UNKNOWN_CHANNEL = "unknown_channel"
    FORBIDDEN = "forbidden"
    ALREADY_SUBSCRIBED = "already_subscribed"
    NOT_SUBSCRIBED = "not_subscribed"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    NO_PRESENCE = "no_presence"
    ALREADY_CONNECTED = "already_connected"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class CloseCode(IntEnum):
    """Websocket close codes the hub sends, with the reason in the close frame."""

    BAD_REQUEST = 4400  # a frame that is not a command: do not retry unchanged
    UNAUTHORIZED = 4401  # no, late, invalid or expired token: get a fresh token, reconnect
    HEARTBEAT_TIMEOUT = 4408  # a ping went unanswered: reconnect
    SLOW_CLIENT = 4429  # the send queue overflowed: reconnect and recover
    SHUTDOWN = 4503  # this replica is stopping: reconnect (to any replica) and recover
    TOO_MANY_CONNECTIONS = 4529  # this replica is full: retry later or elsewhere
    MESSAGE_TOO_BIG = 1009  # the standard code, sent by Tornado itself


class RecoveryOutcome(StrEnum):
    """Why a requested recovery did not happen (``reason`` in the subscribe result)."""

    EPOCH_CHANGED = "epoch_changed"
    BEYOND_RETENTION = "beyond_retention"
    TOO_MANY = "too_many"
    INVALID_OFFSET = "invalid_offset"


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: int = Field(ge=1, le=MAX_COMMAND_ID)


class Connect(_Command):
    op: Literal["connect"]
    token: str = Field(min_length=1, max_length=16_384)
    # How this client calls itself in presence ("Tea bar screen"), shown to other displays.
    name: str | None = Field(default=None, max_length=64)


class Refresh(_Command):
    op: Literal["refresh"]
    token: str = Field(min_length=1, max_length=16_384)


class Subscribe(_Command):
    op: Literal["subscribe"]
    channel: str = Field(min_length=1, max_length=160)
    recover: bool = False
    offset: int = Field(default=0, ge=0)
    epoch: str | None = Field(default=None, max_length=64)


class Unsubscribe(_Command):
    op: Literal["unsubscribe"]
    channel: str = Field(min_length=1, max_length=160)


class PresenceQuery(_Command):
    op: Literal["presence"]
    channel: str = Field(min_length=1, max_length=160)


class Ping(_Command):
    op: Literal["ping"]


Command = Annotated[
    Connect | Refresh | Subscribe | Unsubscribe | PresenceQuery | Ping,
    Field(discriminator="op"),
]
_COMMAND: TypeAdapter[Command] = TypeAdapter(Command)
OPS = ("connect", "refresh", "subscribe", "unsubscribe", "presence", "ping")


class ProtocolViolation(Exception):
    """A frame that cannot be answered (not JSON, no id): the connection is closed."""


class CommandError(Exception):
    """A command that gets an error reply; the connection stays open."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        command_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.command_id = command_id


PONG = object()


def parse_frame(raw: str | bytes) -> Command | object:
    """A command, :data:`PONG`, or an exception saying what is wrong with the frame."""
    try:
        frame = json.loads(raw)
    except ValueError as exc:
        raise ProtocolViolation("frame is not valid JSON") from exc
    if not isinstance(frame, dict):
        raise ProtocolViolation("frame is not a JSON object")
    if frame.get("op") == "pong" and "id" not in frame:
        return PONG
    ident = frame.get("id")
    if not isinstance(ident, int) or isinstance(ident, bool) or not 1 <= ident <= MAX_COMMAND_ID:
        raise ProtocolViolation("every command needs a positive integer 'id'")
    op = frame.get("op")
    if op not in OPS:
        raise CommandError(
            ErrorCode.UNKNOWN_OP,
            f"unknown op {op!r}; use one of: {', '.join(OPS)}",
            {"op": op},
            command_id=ident,
        )
    try:
        command = _COMMAND.validate_python(frame)
    except ValidationError as exc:
        fields = [
            {
                # The first location element is the union tag (the op); drop it.
                "field": ".".join(str(p) for p in e["loc"][1:]) or "(command)",
                "problem": e["msg"],
            }
            for e in exc.errors(include_url=False)
        ]
        raise CommandError(
            ErrorCode.BAD_REQUEST, f"invalid {op} command", {"fields": fields}, command_id=ident
        ) from exc
    if isinstance(command, Subscribe) and command.recover:
        # A resume names the position it resumes from; without one the hub could only guess
        # (epoch_changed, beyond_retention), and the client would not know it sent too little.
        missing = [name for name in ("offset", "epoch") if name not in command.model_fields_set]
        if missing:
            raise CommandError(
                ErrorCode.BAD_REQUEST,
                "a subscribe with recover: true needs the offset and epoch it resumes from",
                {"fields": [{"field": name, "problem": "Field required"} for name in missing]},
                command_id=ident,
            )
    return command


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def reply(command_id: int, result: dict[str, Any]) -> bytes:
    return encode({"id": command_id, "result": result})


def error_reply(
    command_id: int, code: ErrorCode, message: str, details: dict[str, Any] | None = None
) -> bytes:
    return encode(
        {
            "id": command_id,
            "error": {"code": code.value, "message": message, "details": details or {}},
        }
    )


PING_FRAME = encode({"type": "ping"})
PONG_FRAME = '{"op":"pong"}'  # the answer in its usual spelling (any JSON spelling works)


def publication_frame(channel: str, offset: int, body: bytes) -> bytes:
    """``{"type":"pub","channel":..,"offset":..,"data":<body>}`` without re-encoding the body,
    which is already JSON (channel names carry no characters that need escaping)."""
    return b'{"type":"pub","channel":"%s","offset":%d,"data":%s}' % (
        channel.encode(),
        offset,
        body,
    )


def presence_frame(kind: Literal["join", "leave"], channel: str, info: dict[str, Any]) -> bytes:
    return encode({"type": kind, "channel": channel, "info": info})
