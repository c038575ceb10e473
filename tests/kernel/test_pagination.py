"""One rule for list pages: limit and cursor, one error for bad values."""

from __future__ import annotations

import pytest

from bobaku.kernel.errors import ValidationFailed
from bobaku.kernel.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    as_int,
    as_str,
    decode_cursor,
    encode_cursor,
    page_of,
    page_request,
)


def test_defaults_and_a_cursor_round_trip() -> None:
    assert page_request({}, as_int).limit == DEFAULT_LIMIT
    assert page_request({}, as_int).cursor is None
    token = encode_cursor(["2026-01-01T00:00:00+00:00", "pi-1"])
    assert decode_cursor(token) == ["2026-01-01T00:00:00+00:00", "pi-1"]
    page = page_request({"limit": str(MAX_LIMIT), "cursor": encode_cursor(40)}, as_int)
    assert (page.limit, page.cursor) == (MAX_LIMIT, 40)


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"limit": "0"}, ["limit"]),
        ({"limit": str(MAX_LIMIT + 1)}, ["limit"]),
        ({"limit": "-3"}, ["limit"]),
        ({"limit": "ten"}, ["limit"]),
        ({"cursor": "abc"}, ["cursor"]),
        ({"cursor": encode_cursor("not-an-offset")}, ["cursor"]),
        ({"cursor": encode_cursor(-1)}, ["cursor"]),
        ({"limit": "x", "cursor": "%%%"}, ["limit", "cursor"]),
    ],
)
def test_a_bad_value_is_a_422_naming_each_field(query: dict[str, str], fields: list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        page_request(query, as_int)
    assert caught.value.status == 422
    assert caught.value.code == "validation_failed"
    assert [f["field"] for f in caught.value.details["fields"]] == fields


def test_a_key_cursor_refuses_what_is_not_a_key() -> None:
    assert page_request({"cursor": encode_cursor("m-9")}, as_str).cursor == "m-9"
    with pytest.raises(ValidationFailed):
        page_request({"cursor": encode_cursor(9)}, as_str)


def test_the_extra_item_becomes_the_next_cursor() -> None:
    items, cursor = page_of(["a", "b", "c"], 2, lambda last: last)
    assert items == ["a", "b"]
    assert cursor is not None
    assert decode_cursor(cursor) == "b"
    assert page_of(["a", "b"], 2, lambda last: last) == (["a", "b"], None)
    assert page_of([], 2, lambda last: last) == ([], None)
