"""Identity: registration, log-in, refresh-token rotation with reuse detection, log-out, JWKS."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime

import pytest
from customer_testing import PASSWORD, CustomerApi
from support import eventually

from bobaku.kernel.auth import Role, TokenVerifier
from bobaku.kernel.events import Event, new_event
from bobaku.kernel.outbox import OUTBOX
from bobaku.services.customer.adapters.passwords import PasswordHasher
from bobaku.services.customer.adapters.refresh_tokens import REFRESH_TOKENS, REVOKED_FAMILIES
from bobaku.services.customer.adapters.users import USERS, UserRepository
from bobaku.services.customer.domain.users import new_customer, new_user_id, staff_member


async def verifier_from_jwks(api: CustomerApi) -> TokenVerifier:
    status, jwks = await api.call("GET", "/.well-known/jwks.json")
    assert status == 200
    return TokenVerifier.from_jwks(jwks, issuer="bobaku-customer", audience="bobaku")


async def test_registration_returns_the_customer_and_tokens_that_the_jwks_verifies(
    api: CustomerApi,
) -> None:
    email = f"Rina.{secrets.token_hex(4)}@Example.com"
    got = await api.register(
        email=f"  {email} ", name="  Rina   Wijaya ", phone="+62 812-3456-7890", language="en"
    )

    user, tokens = got["user"], got["tokens"]
    assert user["id"].startswith("u-")
    assert len(user["id"]) == 14
    assert user["email"] == email
    assert user["name"] == "Rina Wijaya"
    assert user["roles"] == ["customer"]
    assert user["preferences"] == {
        "language": "en",
        "notifications": {"push": True, "email": True, "in_app": True},
    }
    assert "password" not in str(user)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900

    who = (await verifier_from_jwks(api)).verify(tokens["access_token"])
    assert who.subject == user["id"]
    assert who.roles == frozenset({Role.CUSTOMER})
    assert who.claims["name"] == "Rina Wijaya"
    assert who.claims["exp"] - who.claims["iat"] == 900

    status, me = await api.call("GET", "/me", token=tokens["access_token"])
    assert status == 200
    assert me["data"] == user


async def test_the_password_is_stored_as_an_argon2id_hash_only(api: CustomerApi) -> None:
    user = (await api.register())["user"]
    doc = await api.databases.platform[USERS].find_one({"_id": user["id"]})
    assert doc["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in str(doc)


async def test_registration_publishes_customer_registered(api: CustomerApi) -> None:
    user = (await api.register(language="en"))["user"]

    async def published() -> Event | None:
        raw = await api.bus.js.get_last_msg("EVENTS", "events.brand.customer.registered")
        event = Event.from_json(raw.data or b"")
        return event if event.data["user_id"] == user["id"] else None

    event = await eventually(published)
    assert event.data == {"user_id": user["id"], "language": "en"}
    assert event.tenant is None
    doc = await api.databases.platform[USERS].find_one({"_id": user["id"]})
    assert doc[OUTBOX] == []


async def test_the_same_email_registers_once_whatever_its_case(api: CustomerApi) -> None:
    email = f"budi.{secrets.token_hex(4)}@example.com"
    await api.register(email=email)
    status, body = await api.call(
        "POST",
        "/auth/register",
        json={"email": email.upper(), "password": PASSWORD, "name": "B", "language": "id"},
    )
    assert status == 409
    assert body["error"]["code"] == "email_taken"


async def test_racing_registrations_of_one_email_create_one_account(api: CustomerApi) -> None:
    email = f"race.{secrets.token_hex(4)}@example.com"
    body = {"password": PASSWORD, "name": "Racer", "language": "id"}
    results = await asyncio.gather(
        *(
            api.call("POST", "/auth/register", json={**body, "email": variant})
            for variant in [email, email.upper(), email.title(), email, email.upper(), email]
        )
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 409, 409, 409, 409, 409]
    assert all(b["error"]["code"] == "email_taken" for s, b in results if s == 409)
    users = api.databases.platform[USERS]
    assert await users.count_documents({"email_normalized": email}) == 1


async def test_login_works_for_any_case_of_the_email(api: CustomerApi) -> None:
    email = f"siti.{secrets.token_hex(4)}@example.com"
    user = (await api.register(email=email))["user"]

    status, body = await api.call(
        "POST", "/auth/login", json={"email": email.upper(), "password": PASSWORD}
    )
    assert status == 200
    assert body["data"]["user"]["id"] == user["id"]
    who = (await verifier_from_jwks(api)).verify(body["data"]["tokens"]["access_token"])
    assert who.subject == user["id"]


async def test_a_failed_login_never_tells_whether_the_email_exists(api: CustomerApi) -> None:
    email = f"known.{secrets.token_hex(4)}@example.com"
    await api.register(email=email)

    wrong_password = await api.call(
        "POST", "/auth/login", json={"email": email, "password": "not-the-password"}
    )
    unknown_email = await api.call(
        "POST",
        "/auth/login",
        json={"email": f"nobody.{secrets.token_hex(4)}@example.com", "password": PASSWORD},
    )
    assert wrong_password == unknown_email
    assert wrong_password[0] == 401
    assert wrong_password[1]["error"] == {
        "code": "invalid_credentials",
        "message": "email or password is wrong",
        "details": {},
    }


async def test_a_login_upgrades_a_hash_made_with_older_parameters(api: CustomerApi) -> None:
    email = f"old.{secrets.token_hex(4)}@example.com"
    user = (await api.register(email=email))["user"]
    weaker = PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1, workers=1)
    old_hash = await weaker.hash(PASSWORD)
    weaker.close()
    users = api.databases.platform[USERS]
    await users.update_one({"_id": user["id"]}, {"$set": {"password_hash": old_hash}})

    status, _ = await api.call("POST", "/auth/login", json={"email": email, "password": PASSWORD})

    assert status == 200
    upgraded = (await users.find_one({"_id": user["id"]}))["password_hash"]
    assert upgraded != old_hash
    assert "m=8192,t=1,p=1" in upgraded  # the service's configured parameters


async def test_refresh_rotates_the_pair_and_spends_the_old_token(api: CustomerApi) -> None:
    tokens = (await api.register())["tokens"]

    status, body = await api.call(
        "POST", "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert status == 200
    fresh = body["data"]
    assert set(fresh) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert fresh["access_token"] != tokens["access_token"]
    # The new refresh token rotates in turn.
    status, body = await api.call(
        "POST", "/auth/refresh", json={"refresh_token": fresh["refresh_token"]}
    )
    assert status == 200
    # Only hashes are stored.
    stored = api.databases.platform[REFRESH_TOKENS]
    assert await stored.find_one({"_id": tokens["refresh_token"]}) is None
    user = await api.me(fresh["access_token"])
    assert await stored.count_documents({"user_id": user["id"]}) == 3


async def test_a_reused_refresh_token_revokes_the_whole_family_and_is_logged(
    api: CustomerApi, caplog: pytest.LogCaptureFixture
) -> None:
    first = (await api.register())["tokens"]["refresh_token"]
    _, body = await api.call("POST", "/auth/refresh", json={"refresh_token": first})
    second = body["data"]["refresh_token"]

    # Someone replays the spent token (the thief, or the victim after the thief rotated).
    with caplog.at_level(logging.WARNING, logger="bobaku.security"):
        status, body = await api.call("POST", "/auth/refresh", json={"refresh_token": first})
    assert status == 401
    assert body["error"]["code"] == "invalid_refresh_token"
    assert body["error"]["details"] == {"reason": "reused"}
    reuse = [r for r in caplog.records if getattr(r, "security_event", "") == "refresh_token_reuse"]
    assert len(reuse) == 1

    # The token that was still valid is now dead too: the family is revoked.
    status, body = await api.call("POST", "/auth/refresh", json={"refresh_token": second})
    assert status == 401
    assert body["error"]["details"] == {"reason": "revoked"}


async def test_two_refreshes_racing_with_one_token_cannot_both_win(api: CustomerApi) -> None:
    token = (await api.register())["tokens"]["refresh_token"]
    results = await asyncio.gather(
        *(api.call("POST", "/auth/refresh", json={"refresh_token": token}) for _ in range(4))
    )
    winners = [body["data"]["refresh_token"] for status, body in results if status == 200]
    assert len(winners) <= 1
    assert sum(status == 401 for status, _ in results) >= 3
    # Reuse was detected, so even the winner's token no longer works.
    for won in winners:
        status, _ = await api.call("POST", "/auth/refresh", json={"refresh_token": won})
        assert status == 401


async def test_logout_revokes_the_session_and_repeating_it_is_harmless(api: CustomerApi) -> None:
    email = f"out.{secrets.token_hex(4)}@example.com"
    tokens = (await api.register(email=email))["tokens"]
    _, other = await api.call("POST", "/auth/login", json={"email": email, "password": PASSWORD})

    for _ in range(2):
        status, body = await api.call(
            "POST", "/auth/logout", json={"refresh_token": tokens["refresh_token"]}
        )
        assert (status, body["data"]) == (200, {"revoked": True})
    status, body = await api.call(
        "POST", "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert (status, body["error"]["details"]) == (401, {"reason": "revoked"})
    assert await api.databases.platform[REVOKED_FAMILIES].count_documents({}) >= 1
    # The session started by the other login lives on.
    status, _ = await api.call(
        "POST", "/auth/refresh", json={"refresh_token": other["data"]["tokens"]["refresh_token"]}
    )
    assert status == 200


async def test_unknown_refresh_tokens_are_refused(api: CustomerApi) -> None:
    for path in ("/auth/refresh", "/auth/logout"):
        status, body = await api.call("POST", path, json={"refresh_token": "made-up"})
        assert status == 401
        assert body["error"]["code"] == "invalid_refresh_token"
        assert body["error"]["details"] == {"reason": "unknown"}


async def test_the_jwks_publishes_the_signing_key_with_its_kid(api: CustomerApi) -> None:
    resp = await api.client.get("/.well-known/jwks.json")
    jwks = await resp.json()
    assert resp.headers["Cache-Control"] == "public, max-age=300"
    assert [k["kid"] for k in jwks["keys"]] == ["test-1"]
    assert jwks["keys"][0]["alg"] == "EdDSA"
    assert "d" not in jwks["keys"][0]  # the public half only


async def test_staff_log_in_like_customers_and_their_tokens_carry_roles_and_tenancy(
    api: CustomerApi,
) -> None:
    email = f"manager.{secrets.token_hex(4)}@bobaku.id"
    hasher = PasswordHasher(time_cost=1, memory_kib=8192, parallelism=1, workers=1)
    now = datetime.now(UTC)
    manager = staff_member(
        user_id=new_user_id(),
        email=email,
        name="Manager Outlet 02",
        password_hash=await hasher.hash(PASSWORD),
        role=Role.OUTLET_MANAGER,
        franchise_id="fr-jakarta",
        outlet_ids=("outlet-02",),
        now=now,
    )
    hasher.close()
    await UserRepository(api.databases).add(manager)

    status, body = await api.call(
        "POST", "/auth/login", json={"email": email, "password": PASSWORD}
    )

    assert status == 200
    assert body["data"]["user"]["roles"] == ["outlet_manager"]
    assert body["data"]["user"]["franchise_id"] == "fr-jakarta"
    who = (await verifier_from_jwks(api)).verify(body["data"]["tokens"]["access_token"])
    assert who.roles == frozenset({Role.OUTLET_MANAGER})
    assert who.franchise_id == "fr-jakarta"
    assert who.outlet_ids == frozenset({"outlet-02"})
    assert who.claims["name"] == "Manager Outlet 02"
    who.require_outlet("fr-jakarta", "outlet-02")


async def test_an_event_left_in_the_outbox_by_a_crash_is_published_later(
    api: CustomerApi,
) -> None:
    # The process died after committing the user with its event, before publishing it.
    now = datetime.now(UTC)
    user = new_customer(
        email=f"crash.{secrets.token_hex(4)}@example.com",
        name="Crash",
        password_hash="$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        language="en",
        phone=None,
        now=now,
    )
    registered = new_event(
        "customer.registered", {"user_id": user.id, "language": "en"}, source="customer-service"
    )
    users = UserRepository(api.databases)
    await users.add(user, [registered])

    async def published() -> bool:
        raw = await api.bus.js.get_last_msg("EVENTS", "events.brand.customer.registered")
        return Event.from_json(raw.data or b"").id == registered.id

    await eventually(published)  # the relay runs every 0.5 s in the tests

    async def outbox_emptied() -> bool:
        doc = await api.databases.platform[USERS].find_one({"_id": user.id})
        return bool(doc[OUTBOX] == [])

    await eventually(outbox_emptied)
