"""UTC time as this service writes it.

Times are written with a fixed width (always milliseconds), unlike the kernel's
``utc_iso``, which drops them when zero: fixed-width UTC strings sort as the times they
name, and what is already stored keeps its shape. Parsing is the kernel's ``parse_utc``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bobaku.kernel.events.envelope import parse_utc

__all__ = ["iso", "parse_utc", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
