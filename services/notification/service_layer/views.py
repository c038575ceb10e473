"""Read side: a user's inbox page by page (by key, never by scanning), one notification
with its delivery status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bobaku.kernel.pagination import as_int, encode_cursor
from bobaku.services.notification.adapters.records import Records
from bobaku.services.notification.adapters.repos import PAGE_SIZE, InboxRepo, StatusRepo
from bobaku.services.notification.domain.kinds import overall

PUBLIC_FIELDS = ("kind", "language", "title", "body", "created_at", "tenant")


def notification_view(record: dict[str, Any], status: dict[str, Any] | None) -> dict[str, Any]:
    channels = (status or {}).get("channels", {})
    return {
        "id": record["_id"],
        "user_id": record["user_id"],
        **{k: record.get(k) for k in PUBLIC_FIELDS},
        "order_id": (record.get("params") or {}).get("order_id"),
        "read": bool((status or {}).get("read", False)),
        # No status yet: the record was just written and its status is a moment behind.
        "status": (
            overall({c: e.get("status", "queued") for c, e in channels.items()})
            if channels
            else "queued"
        ),
        "channels": {
            c: {
                k: v
                for k, v in e.items()
                if k
                in (
                    "status",
                    "attempts",
                    "error",
                    "reason",
                    "deferred_until",
                    "updated_at",
                    "delivered_at",
                )
            }
            for c, e in channels.items()
        },
    }


def inbox_position(value: Any) -> tuple[int, int]:
    """A decoded cursor: the inbox page key and the position in it (kernel.pagination)."""
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError("not an inbox position")
    return as_int(value[0]), as_int(value[1])


@dataclass
class Views:
    records: Records
    status: StatusRepo
    inbox: InboxRepo

    async def one(self, nid: str) -> dict[str, Any] | None:
        record = await self.records.get(nid)
        if record is None:
            return None
        return notification_view(record, await self.status.get(nid))

    async def page(
        self, user_id: str, limit: int, cursor: tuple[int, int] | None
    ) -> dict[str, Any]:
        """Newest first. The cursor names a page key and a position in it."""
        head = await self.inbox.head(user_id)
        count = head.get("count", 0)
        if cursor is None:
            page, offset = (count - 1) // PAGE_SIZE, None
        else:
            page, offset = cursor
        ids: list[str] = []
        next_cursor = None
        while page >= 0 and len(ids) < limit:
            entries = await self.inbox.page(user_id, page)
            end = len(entries) if offset is None else offset
            take = entries[max(0, end - (limit - len(ids))) : end]
            ids.extend(reversed(take))
            start = end - len(take)
            if start > 0:
                next_cursor = encode_cursor([page, start])
                break
            page, offset = page - 1, None
            next_cursor = encode_cursor([page, PAGE_SIZE]) if page >= 0 else None
        items = [view for nid in ids if (view := await self.one(nid)) is not None]
        return {
            "items": items,
            "next_cursor": next_cursor if len(ids) >= limit else None,
            "unread": head.get("unread", 0),
            "total": count,
        }
