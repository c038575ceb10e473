"""The profile and preferences, and what every body-taking route does with a bad body:
a 4xx error envelope that names the field, and nothing written."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from customer_testing import PASSWORD, CustomerApi, Orders

from bobaku.services.customer.adapters.refresh_tokens import REFRESH_TOKENS
from bobaku.services.customer.adapters.users import USERS


async def test_a_profile_change_touches_only_the_fields_sent(api: CustomerApi) -> None:
    session = await api.register(name="Rina", language="id")
    token = session["tokens"]["access_token"]

    status, body = await api.call(
        "PATCH",
        "/me",
        token=token,
        json={
            "name": "Rina Wijaya",
            "phone": "+62 812-3456-7890",
            "preferences": {"language": "en", "notifications": {"push": False}},
        },
    )

    assert status == 200
    changed = body["data"]
    assert changed["name"] == "Rina Wijaya"
    assert changed["phone"] == "+62 812-3456-7890"
    assert changed["preferences"] == {
        "language": "en",
        "notifications": {"push": False, "email": True, "in_app": True},
    }
    assert {k: v for k, v in changed.items() if k not in ("name", "phone", "preferences")} == {
        k: v for k, v in session["user"].items() if k not in ("name", "phone", "preferences")
    }
    assert await api.me(token) == changed
    # Other services read the new preferences.
    card = await api.card(changed["id"])
    assert card["language"] == "en"
    assert card["notifications"] == {"push": False, "email": True, "in_app": True}

    # One channel at a time; the others stay as they are. A null phone removes it.
    status, body = await api.call(
        "PATCH",
        "/me",
        token=token,
        json={"phone": None, "preferences": {"notifications": {"email": False}}},
    )
    assert status == 200
    assert body["data"]["phone"] is None
    assert body["data"]["name"] == "Rina Wijaya"
    assert body["data"]["preferences"] == {
        "language": "en",
        "notifications": {"push": False, "email": False, "in_app": True},
    }


async def test_the_profile_needs_a_token_of_a_user(api: CustomerApi) -> None:
    status, body = await api.call("GET", "/me")
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    status, body = await api.call("GET", "/me", token="not-a-jwt")
    assert status == 401
    status, body = await api.call("GET", "/me", token=api.service_token)
    assert (status, body["error"]["code"]) == (404, "user_not_found")


# --- bad bodies -----------------------------------------------------------------------------


async def users_with(api: CustomerApi, email: str) -> int:
    return int(
        await api.databases.platform[USERS].count_documents({"email_normalized": email.lower()})
    )


def register_body(**overrides: Any) -> dict[str, Any]:
    return {
        "email": f"bad-{secrets.token_hex(4)}@example.com",
        "password": PASSWORD,
        "name": "Nobody",
        "language": "id",
        **overrides,
    }


REGISTER_CASES = [
    ({"email": 5}, "email"),
    ({"email": "not-an-email"}, "email"),
    ({"email": "two@@example.com"}, "email"),
    ({"password": "short"}, "password"),
    ({"password": 12345678}, "password"),
    ({"name": ["Rina"]}, "name"),
    ({"name": "   "}, "name"),
    ({"phone": "call me"}, "phone"),
    ({"language": "fr"}, "language"),
    ({"language": None}, "language"),
    # A customer cannot make themselves staff: unknown fields are refused, not ignored.
    ({"roles": ["hq_admin"]}, "roles"),
    ({"franchise_id": "fr-jakarta"}, "franchise_id"),
]


@pytest.mark.parametrize(("change", "field"), REGISTER_CASES)
async def test_a_bad_registration_names_the_field_and_creates_nobody(
    api: CustomerApi, change: dict[str, Any], field: str
) -> None:
    body = register_body(**change)
    status, answer = await api.call("POST", "/auth/register", json=body)
    assert status == 422, answer
    assert answer["status"] == "error"
    assert answer["error"]["code"] == "validation_failed"
    assert [f["field"] for f in answer["error"]["details"]["fields"]] == [field]
    if isinstance(body["email"], str):
        assert await users_with(api, body["email"].strip()) == 0


async def test_a_registration_missing_its_language_is_refused(api: CustomerApi) -> None:
    body = register_body()
    del body["language"]
    status, answer = await api.call("POST", "/auth/register", json=body)
    assert status == 422
    assert answer["error"]["details"]["fields"][0]["field"] == "language"
    assert await users_with(api, body["email"]) == 0


@pytest.fixture
async def customer(api: CustomerApi) -> dict[str, Any]:
    return await api.register()


Snapshot = Callable[[], Awaitable[Any]]


def routes(api: CustomerApi, customer: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """Every route that takes a body: (method, path, token)."""
    cid = customer["user"]["id"]
    return [
        ("POST", "/auth/register", None),
        ("POST", "/auth/login", None),
        ("POST", "/auth/refresh", None),
        ("POST", "/auth/logout", None),
        ("PATCH", "/me", customer["tokens"]["access_token"]),
        ("POST", f"/internal/loyalty/{cid}/redemptions", api.service_token),
    ]


async def everything_written(api: CustomerApi, customer: dict[str, Any]) -> Any:
    """What a bad request must not change: users, sessions, the profile and the ledger."""
    platform = api.databases.platform
    return (
        await platform[USERS].count_documents({}),
        await platform[REFRESH_TOKENS].count_documents({}),
        await api.me(customer["tokens"]["access_token"]),
        await api.ledger_types(customer["user"]["id"]),
    )


async def test_malformed_json_is_a_400_everywhere_and_writes_nothing(
    api: CustomerApi, customer: dict[str, Any]
) -> None:
    before = await everything_written(api, customer)
    for method, path, token in routes(api, customer):
        for raw in (b'{"email": "a@b.co", ', b"", b"[1, 2", b"nul"):
            status, answer = await api.call(method, path, token=token, data=raw)
            assert status == 400, (path, raw, answer)
            assert answer["error"]["code"] == "malformed_json", (path, raw)
        status, answer = await api.call(
            method, path, token=token, data=b"email=a", headers={"Content-Type": "text/plain"}
        )
        assert (status, answer["error"]["code"]) == (415, "unsupported_media_type"), path
    assert await everything_written(api, customer) == before


WRONG_TYPES: dict[str, list[tuple[Any, str]]] = {
    "/auth/register": [([], "(body)"), (register_body(email=True), "email")],
    "/auth/login": [
        ({"email": 1, "password": "x"}, "email"),
        ({"email": "a@b.co", "password": None}, "password"),
        ({"email": "a@b.co"}, "password"),
        ({"email": "a@b.co", "password": "x", "remember": True}, "remember"),
    ],
    "/auth/refresh": [({"refresh_token": 123}, "refresh_token"), ({}, "refresh_token")],
    "/auth/logout": [({"refresh_token": ["x"]}, "refresh_token")],
    "/me": [
        ({"name": 5}, "name"),
        ({"name": None}, "name"),
        ({"phone": 812345678}, "phone"),
        ({"preferences": {"language": "fr"}}, "preferences.language"),
        ({"preferences": {"notifications": {"push": "yes"}}}, "preferences.notifications.push"),
        ({"preferences": {"notifications": {"sms": True}}}, "preferences.notifications.sms"),
        ({"preferences": None}, "preferences"),
        ({"email": "new@example.com"}, "email"),
        ({"roles": ["hq_admin"]}, "roles"),
    ],
    "redemptions": [
        ({"order_id": 5, "reward_ids": ["rw-free-topping"]}, "order_id"),
        ({"order_id": "ord.1", "reward_ids": ["rw-free-topping"]}, "order_id"),
        ({"order_id": "ord-1", "reward_ids": "rw-free-topping"}, "reward_ids"),
        ({"order_id": "ord-1", "reward_ids": []}, "reward_ids"),
        ({"order_id": "ord-1", "reward_ids": [150]}, "reward_ids.0"),
        ({"order_id": "ord-1", "reward_ids": ["rw-free-topping"], "points": 1}, "points"),
    ],
}


async def test_wrong_types_are_a_422_naming_the_field_and_write_nothing(
    api: CustomerApi, customer: dict[str, Any], orders: Orders
) -> None:
    await orders.paid(customer["user"]["id"], 500_000)
    await api.points_settle_at(customer["user"]["id"], 500)
    before = await everything_written(api, customer)
    for method, path, token in routes(api, customer):
        key = "redemptions" if path.endswith("/redemptions") else path
        for body, field in WRONG_TYPES[key]:
            status, answer = await api.call(method, path, token=token, json=body)
            assert status == 422, (path, body, answer)
            assert answer["error"]["code"] == "validation_failed"
            fields = [f["field"] for f in answer["error"]["details"]["fields"]]
            assert fields == [field], (path, body, fields)
    assert await everything_written(api, customer) == before


async def test_a_body_over_the_size_limit_is_refused_before_it_is_read(
    api: CustomerApi,
) -> None:
    huge = register_body(name="x" * 2_000_000)
    status, answer = await api.call("POST", "/auth/register", json=huge)
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")
    assert await users_with(api, huge["email"]) == 0
