"""Silo mode and the live configuration file, as the app factory installs them."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from support import eventually

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.errors import TenantForbidden
from bobaku.kernel.settings import Settings
from bobaku.kernel.web import CONFIG, DATABASES, create_app, ok, principal


async def orders_of(request: web.Request) -> web.Response:
    """A handler in the shape of the services': the franchise comes from the path."""
    principal(request)
    db = await request.app[DATABASES].franchise(request.match_info["franchise_id"])
    count = await db.silo_orders.count_documents({})
    return ok({"franchise": request.match_info["franchise_id"], "orders": count})


async def accepting(request: web.Request) -> web.Response:
    return ok({"accepting": request.app[CONFIG].get("ordering", "acceptingOrders")})


def config_file(tmp_path: Path, accepting_orders: bool) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"ordering": {"acceptingOrders": accepting_orders}}))
    return path


@pytest.fixture
async def silo(settings: Settings, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    silo_settings = settings.model_copy(
        update={
            "deployment_mode": "silo",
            "franchise_id": "fr-silo-a",
            "bobaku_config_file": config_file(tmp_path, True),
            "config_reload_s": 0.05,
        }
    )
    app = create_app(silo_settings, uses=("mongo",))
    app.router.add_get("/franchises/{franchise_id}/orders", orders_of)
    app.router.add_get("/accepting", accepting)
    async with TestClient(TestServer(app)) as client:
        yield client


def bearer(token_issuer: TokenIssuer, *roles: Role, franchise: str | None = None) -> dict[str, str]:
    token = token_issuer.issue("u-1", roles, franchise_id=franchise)
    return {"Authorization": f"Bearer {token}"}


async def test_a_silo_serves_its_own_franchise(
    silo: TestClient[Any, Any], token_issuer: TokenIssuer
) -> None:
    headers = bearer(token_issuer, Role.FRANCHISE_OWNER, franchise="fr-silo-a")
    resp = await silo.get("/franchises/fr-silo-a/orders", headers=headers)
    assert resp.status == 200
    assert (await resp.json())["data"] == {"franchise": "fr-silo-a", "orders": 0}


async def test_a_silo_refuses_a_token_of_another_franchise_with_403_and_a_security_event(
    silo: TestClient[Any, Any], token_issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    headers = bearer(token_issuer, Role.FRANCHISE_OWNER, franchise="fr-silo-b")
    with caplog.at_level(logging.WARNING, logger="bobaku.security"):
        # Even a path naming the silo's own franchise: the caller belongs elsewhere.
        resp = await silo.get("/franchises/fr-silo-a/orders", headers=headers)
    assert resp.status == 403
    body = await resp.json()
    assert body["error"]["code"] == "tenant_forbidden"
    assert body["error"]["details"]["franchise_id"] == "fr-silo-b"
    events = [
        r for r in caplog.records if getattr(r, "security_event", "") == "silo_tenant_violation"
    ]
    assert events
    assert events[0].target_franchise == "fr-silo-b"


async def test_a_silo_refuses_another_franchise_data_even_to_hq(
    silo: TestClient[Any, Any], token_issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    headers = bearer(token_issuer, Role.HQ_ADMIN)
    with caplog.at_level(logging.WARNING, logger="bobaku.security"):
        resp = await silo.get("/franchises/fr-silo-b/orders", headers=headers)
    assert resp.status == 403
    assert (await resp.json())["error"]["details"]["served_franchise"] == "fr-silo-a"
    assert any(getattr(r, "security_event", "") == "silo_tenant_violation" for r in caplog.records)
    # HQ still reaches the franchise this silo serves.
    resp = await silo.get("/franchises/fr-silo-a/orders", headers=headers)
    assert resp.status == 200


async def test_pooled_mode_reaches_every_franchise(
    settings: Settings, token_issuer: TokenIssuer
) -> None:
    app = create_app(settings, uses=("mongo",))
    app.router.add_get("/franchises/{franchise_id}/orders", orders_of)
    async with TestClient(TestServer(app)) as client:
        headers = bearer(token_issuer, Role.HQ_ADMIN)
        for franchise in ("fr-silo-a", "fr-silo-b"):
            resp = await client.get(f"/franchises/{franchise}/orders", headers=headers)
            assert resp.status == 200


def test_silo_mode_without_a_franchise_is_refused_at_start(settings: Settings) -> None:
    with pytest.raises(ValueError, match="FRANCHISE_ID"):
        create_app(settings.model_copy(update={"deployment_mode": "silo"}))


async def test_the_database_resolver_of_a_silo_refuses_another_franchise(
    settings: Settings,
) -> None:
    from bobaku.kernel.db import Databases

    dbs = Databases.from_settings(
        settings.model_copy(update={"deployment_mode": "silo", "franchise_id": "fr-silo-a"})
    )
    try:
        with pytest.raises(TenantForbidden):
            await dbs.franchise("fr-silo-b")
        assert (await dbs.franchise("fr-silo-a")).name.endswith("_fr_fr_silo_a")
    finally:
        await dbs.close()


async def test_the_configuration_file_is_reloaded_when_it_changes(
    silo: TestClient[Any, Any], tmp_path: Path
) -> None:
    resp = await silo.get("/accepting")
    assert (await resp.json())["data"] == {"accepting": True}
    # As the kubelet updates a ConfigMap volume: a new file swapped in by rename.
    new = tmp_path / "config.json.new"
    new.write_text(json.dumps({"ordering": {"acceptingOrders": False}}))
    new.replace(tmp_path / "config.json")

    async def reloaded() -> bool:
        resp = await silo.get("/accepting")
        return bool((await resp.json())["data"] == {"accepting": False})

    await eventually(reloaded)


async def test_an_invalid_configuration_file_keeps_the_last_good_one(
    silo: TestClient[Any, Any], tmp_path: Path
) -> None:
    config = silo.app[CONFIG]  # type: ignore[index]
    generation = config.generation
    (tmp_path / "config.json").write_text("{not json")
    assert config.reload() is False
    assert config.generation == generation
    assert config.get("ordering", "acceptingOrders") is True
