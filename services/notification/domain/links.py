"""Signed unsubscribe links: ``<user>.<channel>.<kind or *>.<signature>``, HMAC-SHA256 with
the service's key, so the link works without logging in and cannot be forged or edited."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Unsubscribe:
    user_id: str
    channel: str
    kind: str | None


def _sig(key: bytes, payload: str) -> str:
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign(key: bytes, what: Unsubscribe) -> str:
    payload = f"{what.user_id}.{what.channel}.{what.kind or '*'}"
    return f"{payload}.{_sig(key, payload)}"


def verify(key: bytes, token: str) -> Unsubscribe | None:
    parts = token.split(".")
    if len(parts) != 4:
        return None
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(_sig(key, payload), parts[3]):
        return None
    user, channel, kind = parts[:3]
    return Unsubscribe(user, channel, None if kind == "*" else kind)
