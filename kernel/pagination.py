"""List pages: ``?limit=`` and ``?cursor=``, one rule for every list endpoint.

A list answers ``{"items": [...], "next_cursor": str | null}``. ``limit`` is a whole number
from 1 to :data:`MAX_LIMIT` (default :data:`DEFAULT_LIMIT`); ``cursor`` is the opaque
``next_cursor`` of the previous page (URL-safe base64 of a JSON value the service chose:
the last key seen, an offset, a position). A bad value of either is **422
``validation_failed``** with ``details.fields`` naming it, as ``docs/contracts.md`` says;
nothing is clamped.

Read the query with :func:`page_request`, fetch ``limit + 1`` documents after
``page.cursor``, and answer :func:`page_of` (it drops the extra one and makes the cursor).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

from bobaku.kernel.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

T = TypeVar("T")
C = TypeVar("C")

# For kernel.openapi.Api(query=...): the two parameters every list endpoint takes.
PAGE_QUERY: tuple[tuple[str, str, str], ...] = (
    ("limit", "integer", f"page size, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT})"),
    ("cursor", "string", "next_cursor of the previous page"),
)


def bad_query(name: str, problem: str) -> ValidationFailed:
    """The one error for a bad query parameter: 422 naming it."""
    return ValidationFailed(
        "query parameters are invalid",
        details={"fields": [{"field": name, "problem": problem, "type": "query"}]},
    )


def query_date(query: Mapping[str, str], name: str = "date") -> str | None:
    """A ``YYYY-MM-DD`` calendar day from the query (None when absent or empty); anything
    else, a path or a timestamp included, is :func:`bad_query` (422 naming the parameter)."""
    raw = query.get(name)
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw).isoformat()
    except ValueError:
        pass
    raise bad_query(name, "a calendar date YYYY-MM-DD")


def encode_cursor(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Any:
    """The value :func:`encode_cursor` wrapped; ``ValueError`` for anything else."""
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("not a cursor") from exc


@dataclass(frozen=True)
class PageRequest(Generic[C]):
    limit: int
    cursor: C | None  # None: the first page


def page_request(
    query: Mapping[str, str],
    cursor: Callable[[Any], C],
    *,
    default: int = DEFAULT_LIMIT,
    maximum: int = MAX_LIMIT,
) -> PageRequest[C]:
    """``limit`` and ``cursor`` from the query; ``cursor`` turns the decoded JSON value into
    what the service pages by and raises ``ValueError``/``TypeError``/``KeyError`` when it
    is not one this service gave out. Raises :func:`bad_query` (422) for either."""
    problems: list[dict[str, str]] = []
    limit = default
    raw_limit = query.get("limit")
    if raw_limit is not None:
        if raw_limit.isdigit() and 1 <= int(raw_limit) <= maximum:
            limit = int(raw_limit)
        else:
            problems.append(
                {"field": "limit", "problem": f"an integer from 1 to {maximum}", "type": "query"}
            )
    after: C | None = None
    raw_cursor = query.get("cursor")
    if raw_cursor:
        try:
            after = cursor(decode_cursor(raw_cursor))
        except (ValueError, TypeError, KeyError, IndexError):
            problems.append(
                {"field": "cursor", "problem": "not a cursor this API gave out", "type": "query"}
            )
    if problems:
        raise ValidationFailed("query parameters are invalid", details={"fields": problems})
    return PageRequest(limit, after)


def page_of(
    fetched: Sequence[T], limit: int, next_key: Callable[[T], Any]
) -> tuple[list[T], str | None]:
    """The page from up to ``limit + 1`` fetched items, and the cursor of the next page
    (``next_key`` of the page's last item) when there is one."""
    items = list(fetched[:limit])
    more = len(fetched) > limit and bool(items)
    return items, encode_cursor(next_key(items[-1])) if more else None


def as_int(value: Any) -> int:
    """A cursor that is a non-negative integer (an offset, a position)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("not a non-negative integer")
    return value


def as_str(value: Any) -> str:
    """A cursor that is a key (the last id seen)."""
    if not isinstance(value, str) or not value:
        raise ValueError("not a key")
    return value
