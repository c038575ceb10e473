"""Repositories over the KV state (``adapters/state.py``), one key per thing read.

- ``prefs.<user>``: the user's preferences
- ``tokens.<user>``: the user's device tokens (token id → token, platform, created_at);
  ``tokenowner.<token id>``: who registered it (first come keeps it)
- ``roster.<franchise>.<outlet>``, ``roster.<franchise>._franchise``: user → role, for
  staff and manager alerts
- ``st.<notification>``: delivery status per channel, read flag
- ``inbox.<user>``, ``inbox.<user>.<page>``: the inbox's head (count, unread) and its pages
  of notification ids, oldest first
- ``late.<franchise>.<order>``: the order's last kitchen ticket and whether it is ready
- ``pfail.<franchise>.<provider>``: the provider's recent payment failures (sliding window)
"""

from __future__ import annotations

import hashlib
from datetime import time
from typing import Any

from bobaku.services.notification.adapters.state import State, Versioned, part
from bobaku.services.notification.domain.preferences import Preferences, QuietHours

PAGE_SIZE = 50


def token_id(token: str) -> str:
    return "tok-" + hashlib.sha256(token.encode()).hexdigest()[:20]


class PreferencesRepo:
    def __init__(self, state: State) -> None:
        self.state = state

    async def get(self, user_id: str) -> Preferences:
        raw = await self.state.get(f"prefs.{part(user_id)}")
        if not raw:
            return Preferences(user_id)
        quiet = raw.get("quiet_hours")
        return Preferences(
            user_id,
            language=raw.get("language"),
            email=raw.get("email"),
            time_zone=raw.get("time_zone") or "Asia/Jakarta",
            channels=dict(raw.get("channels") or {}),
            kinds={k: dict(v) for k, v in (raw.get("kinds") or {}).items()},
            quiet_hours=(
                QuietHours(time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"]))
                if quiet
                else None
            ),
        )

    async def save(self, prefs: Preferences) -> None:
        await self.state.put(f"prefs.{part(prefs.user_id)}", prefs_doc(prefs))

    async def opt_out(self, user_id: str, channel: str, kind: str | None) -> None:
        def mutate(raw: Any) -> Any:
            raw = raw or {}
            if kind:
                raw.setdefault("kinds", {}).setdefault(kind, {})[channel] = False
            else:
                raw.setdefault("channels", {})[channel] = False
            return raw

        await self.state.change(f"prefs.{part(user_id)}", mutate)


def prefs_doc(prefs: Preferences) -> dict[str, Any]:
    quiet = prefs.quiet_hours
    return {
        "language": prefs.language,
        "email": prefs.email,
        "time_zone": prefs.time_zone,
        "channels": prefs.channels,
        "kinds": prefs.kinds,
        "quiet_hours": (
            {"start": quiet.start.strftime("%H:%M"), "end": quiet.end.strftime("%H:%M")}
            if quiet
            else None
        ),
    }


class TokensRepo:
    def __init__(self, state: State) -> None:
        self.state = state

    async def all(self, user_id: str) -> dict[str, dict[str, Any]]:
        return dict(await self.state.get(f"tokens.{part(user_id)}") or {})

    async def add(self, user_id: str, token: str, platform: str, now: str) -> str:
        ident = token_id(token)

        def mutate(raw: Any) -> Any:
            raw = dict(raw or {})
            raw.setdefault(ident, {"token": token, "platform": platform, "created_at": now})
            return raw

        await self.state.change(f"tokens.{part(user_id)}", mutate)
        return ident

    async def remove(self, user_id: str, ident: str) -> bool:
        removed = False

        def mutate(raw: Any) -> Any:
            nonlocal removed
            raw = dict(raw or {})
            removed = raw.pop(ident, None) is not None
            return raw

        await self.state.change(f"tokens.{part(user_id)}", mutate)
        return removed

    async def owner(self, ident: str) -> str | None:
        return await self.state.get(f"tokenowner.{ident}")  # type: ignore[no-any-return]

    async def claim(self, ident: str, user_id: str) -> str:
        """The token's owner after this call: the first user to register it keeps it."""
        owner: str = await self.state.change(
            f"tokenowner.{ident}", lambda raw: raw if raw else user_id
        )
        return owner

    async def release(self, ident: str) -> None:
        await self.state.delete(f"tokenowner.{ident}")


class RosterRepo:
    def __init__(self, state: State) -> None:
        self.state = state

    @staticmethod
    def key(franchise_id: str, outlet_id: str | None) -> str:
        return f"roster.{part(franchise_id)}.{part(outlet_id) if outlet_id else '_franchise'}"

    async def members(self, franchise_id: str, outlet_id: str | None) -> dict[str, str]:
        return dict(await self.state.get(self.key(franchise_id, outlet_id)) or {})

    async def join(self, franchise_id: str, outlet_id: str | None, user: str, role: str) -> None:
        await self.state.change(
            self.key(franchise_id, outlet_id), lambda raw: {**(raw or {}), user: role}
        )

    async def leave(self, franchise_id: str, outlet_id: str | None, user: str) -> None:
        await self.state.change(
            self.key(franchise_id, outlet_id),
            lambda raw: {k: v for k, v in (raw or {}).items() if k != user},
        )


class StatusRepo:
    def __init__(self, state: State) -> None:
        self.state = state

    async def get(self, nid: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = await self.state.get(f"st.{nid}")
        return value

    async def read(self, nid: str) -> Versioned:
        """The status and its revision (for ``update_channel(known=...)``)."""
        return await self.state.read(f"st.{nid}")

    async def create(self, nid: str, doc: dict[str, Any]) -> bool:
        """True if this call created the status (the first handling of the cause)."""
        return await self.state.create(f"st.{nid}", doc)

    async def update_channel(
        self, nid: str, channel: str, known: Versioned | None = None, /, **fields: Any
    ) -> dict[str, Any]:
        def mutate(raw: Any) -> Any:
            raw = dict(raw or {"channels": {}})
            entry = dict(raw["channels"].get(channel, {}))
            delivered = entry.get("status") == "delivered"
            entry.update(fields)
            if delivered and fields.get("status") == "sent":
                entry["status"] = "delivered"  # the receipt overtook the send's own update
            raw["channels"] = {**raw["channels"], channel: entry}
            return raw

        doc: dict[str, Any] = await self.state.change(f"st.{nid}", mutate, known)
        return doc

    async def mark_read(self, nid: str) -> bool:
        """True if it was unread."""
        was_unread = False

        def mutate(raw: Any) -> Any:
            nonlocal was_unread
            raw = dict(raw)
            was_unread = not raw.get("read", False)
            raw["read"] = True
            return raw

        await self.state.change(f"st.{nid}", mutate)
        return was_unread


class InboxRepo:
    """Each user's in-app history as pages of ids, newest last, read by key."""

    def __init__(self, state: State) -> None:
        self.state = state

    async def head(self, user_id: str) -> dict[str, int]:
        return dict(await self.state.get(f"inbox.{part(user_id)}") or {"count": 0, "unread": 0})

    async def add(self, user_id: str, nid: str) -> None:
        head = await self.state.change(
            f"inbox.{part(user_id)}",
            lambda raw: {
                "count": (raw or {}).get("count", 0) + 1,
                "unread": (raw or {}).get("unread", 0) + 1,
            },
        )
        page = (head["count"] - 1) // PAGE_SIZE
        await self.state.change(
            f"inbox.{part(user_id)}.{page}",
            lambda raw: raw if raw and nid in raw else [*(raw or []), nid],
        )

    async def read_one(self, user_id: str) -> None:
        await self.state.change(
            f"inbox.{part(user_id)}",
            lambda raw: {**raw, "unread": max(0, raw.get("unread", 0) - 1)},
        )

    async def page(self, user_id: str, page: int) -> list[str]:
        return list(await self.state.get(f"inbox.{part(user_id)}.{page}") or [])
