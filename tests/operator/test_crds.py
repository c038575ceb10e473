"""The CRDs as the API server enforces them: defaults, validation, printer columns."""

from __future__ import annotations

from typing import Any

import pytest

from bobaku.operator.kube import Invalid, Kube, Manifest

# Fixtures from this folder's conftest.py: admin (cluster admin), installed (CRDs applied).
pytestmark = pytest.mark.usefixtures("installed")

API = "bobaku.io/v1alpha1"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def franchise(name: str, **spec: Any) -> Manifest:
    # Paused: when the operator runs in the same session, it leaves these alone.
    meta = {"name": name, "annotations": {"bobaku.io/paused": "true"}}
    return {"apiVersion": API, "kind": "Franchise", "metadata": meta, "spec": spec}


def outlet(name: str, **spec: Any) -> Manifest:
    return {"apiVersion": API, "kind": "Outlet", "metadata": {"name": name}, "spec": spec}


async def refusal(admin: Kube, manifest: Manifest) -> str:
    with pytest.raises(Invalid) as refused:
        await admin.create(manifest, dry_run=True)
    return refused.value.message


async def test_a_franchise_gets_the_documented_defaults(admin: Kube) -> None:
    created = await admin.apply(franchise("defaults", displayName="Defaults"), dry_run=True)
    assert created["spec"] == {"displayName": "Defaults", "tier": "small", "retention": "Retain"}


async def test_an_outlet_gets_the_documented_defaults(admin: Kube) -> None:
    created = await admin.apply(
        outlet("defaults", franchiseRef="jkt", displayName="Defaults"), dry_run=True
    )
    assert created["spec"]["stations"] == 2
    assert created["spec"]["openingHours"] == {
        "opens": "08:00",
        "closes": "22:00",
        "days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    }


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"displayName": "X", "tier": "huge"}, 'spec.tier: Unsupported value: "huge"'),
        ({"tier": "small"}, "spec.displayName: Required value"),
        ({"displayName": ""}, "spec.displayName"),
        ({"displayName": "X", "retention": "Forever"}, "spec.retention: Unsupported value"),
        ({"displayName": "X", "owner": "not-an-email"}, "spec.owner"),
        ({"displayName": "X", "config": "flat"}, "spec.config"),
    ],
)
async def test_an_invalid_franchise_spec_is_refused(
    admin: Kube, spec: dict[str, Any], complaint: str
) -> None:
    assert complaint in await refusal(admin, franchise("invalid", **spec))


async def test_a_franchise_name_must_be_a_franchise_id(admin: Kube) -> None:
    # A valid Kubernetes name, but longer than a franchise id may be.
    message = await refusal(admin, franchise("a" * 42, displayName="Too long"))
    assert "the name is the franchise id" in message
    accepted = await admin.apply(franchise("a" * 41, displayName="Just fits"), dry_run=True)
    assert accepted["metadata"]["name"] == "a" * 41


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"displayName": "No franchise"}, "spec.franchiseRef: Required value"),
        ({"franchiseRef": "Bad_Ref", "displayName": "X"}, "spec.franchiseRef"),
        ({"franchiseRef": "jkt", "displayName": "X", "phone": "call me"}, "spec.phone"),
        ({"franchiseRef": "jkt", "displayName": "X", "stations": 0}, "spec.stations"),
        (
            {"franchiseRef": "jkt", "displayName": "X", "openingHours": {"opens": "25:00"}},
            "spec.openingHours.opens",
        ),
        (
            {
                "franchiseRef": "jkt",
                "displayName": "X",
                "openingHours": {"opens": "09:00", "closes": "09:00"},
            },
            "opens and closes must differ",
        ),
        (
            {"franchiseRef": "jkt", "displayName": "X", "openingHours": {"days": ["Funday"]}},
            "spec.openingHours.days[0]",
        ),
        (
            {"franchiseRef": "jkt", "displayName": "X", "openingHours": {"days": ["Mon", "Mon"]}},
            "each day at most once",
        ),
    ],
)
async def test_an_invalid_outlet_spec_is_refused(
    admin: Kube, spec: dict[str, Any], complaint: str
) -> None:
    assert complaint in await refusal(admin, outlet("invalid", **spec))


async def test_an_outlet_cannot_move_to_another_franchise(admin: Kube) -> None:
    await admin.apply(outlet("mover", franchiseRef="crd-a", displayName="Mover"))
    try:
        with pytest.raises(Invalid) as refused:
            await admin.apply(outlet("mover", franchiseRef="crd-b", displayName="Mover"))
        assert "franchiseRef is immutable" in refused.value.message
        # Other fields may change.
        changed = await admin.apply(outlet("mover", franchiseRef="crd-a", displayName="Moved"))
        assert changed["spec"]["displayName"] == "Moved"
    finally:
        await admin.delete(API, "Outlet", "mover")


async def test_kubectl_get_shows_tier_outlets_ready_and_age(admin: Kube) -> None:
    await admin.apply(franchise("columns", displayName="Columns", tier="medium"))
    try:
        table = await admin.request("GET", f"/apis/{API}/franchises", accept=TABLE)
        columns = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
        assert columns == ["Name", "Tier", "Outlets", "Ready", "Age"]
        wide = [c["name"] for c in table["columnDefinitions"] if c["priority"] > 0]
        assert wide == ["Display Name", "Reason", "Namespace", "Retention"]
        names = [c["name"] for c in table["columnDefinitions"]]
        row = next(r for r in table["rows"] if r["cells"][0] == "columns")
        assert row["cells"][names.index("Tier")] == "medium"

        table = await admin.request("GET", f"/apis/{API}/outlets", accept=TABLE)
        columns = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
        assert columns == ["Name", "Franchise", "City", "Ready", "Age"]
    finally:
        await admin.delete(API, "Franchise", "columns")


async def test_status_is_a_subresource_that_spec_writers_cannot_touch(admin: Kube) -> None:
    created = await admin.apply(franchise("status-sub", displayName="Status"))
    try:
        # Status sent with the main resource is ignored; the generation counts spec only.
        body = dict(created)
        body["status"] = {"outletCount": 99}
        body["metadata"] = {"name": "status-sub", "annotations": {"bobaku.io/paused": "true"}}
        after = await admin.apply(body)
        assert after.get("status", {}).get("outletCount") != 99
        assert after["metadata"]["generation"] == 1
        await admin.patch(
            API, "Franchise", "status-sub", {"status": {"outletCount": 3}}, subresource="status"
        )
        again = await admin.get(API, "Franchise", "status-sub")
        assert again is not None
        assert again["status"]["outletCount"] == 3
        assert again["metadata"]["generation"] == 1
    finally:
        await admin.delete(API, "Franchise", "status-sub")


async def test_an_apply_that_leaves_a_day_out_closes_it(admin: Kube) -> None:
    """``days`` is atomic: another field manager's apply replaces the list, where a set
    would have kept the days the first manager applied."""
    week = {"days": ["Mon", "Tue", "Sat"]}
    await admin.apply(
        outlet("days-atomic", franchiseRef="crd-a", displayName="D", openingHours=week)
    )
    try:
        body = outlet("days-atomic", franchiseRef="crd-a", displayName="D")
        body["spec"]["openingHours"] = {"days": ["Sun"]}
        path = await admin.path(API, "Outlet", "days-atomic")
        changed = await admin.request(
            "PATCH",
            path,
            params={"fieldManager": "someone-else", "force": "true"},
            body=body,
            content_type="application/apply-patch+yaml",
        )
        assert changed["spec"]["openingHours"]["days"] == ["Sun"]
    finally:
        await admin.delete(API, "Outlet", "days-atomic")
