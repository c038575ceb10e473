"""The Helm chart: lint, render, and the rendered objects accepted by a real API server."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from bobaku.operator.envtest import apply_manifests, ensure_namespace, load_manifests
from bobaku.operator.kube import Kube

# Fixtures from this folder's conftest.py: helm (the built binary), admin, installed.
ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "bobaku"


def helm_run(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, check=check)


def render(helm: Path, *args: str, namespace: str = "bobaku-system") -> list[dict[str, Any]]:
    result = helm_run(helm, "template", "bobaku", str(CHART), "--namespace", namespace, *args)
    return load_manifests(result.stdout)


def deployment_env(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The environment of a rendered Deployment's container (plain values)."""
    deployment = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name
    )
    return {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }


def test_the_chart_passes_helm_lint_strict(helm: Path) -> None:
    result = helm_run(helm, "lint", "--strict", str(CHART), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_the_chart_renders_the_platform_namespace(helm: Path) -> None:
    objects = render(helm)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for expected in [
        ("Deployment", "bobaku-operator"),
        ("ServiceAccount", "bobaku-operator"),
        ("ClusterRole", "bobaku-operator"),
        ("ClusterRoleBinding", "bobaku-operator"),
        ("Role", "bobaku-operator"),
        ("ValidatingAdmissionPolicy", "bobaku-operator-namespaces"),
        ("Deployment", "gateway"),
        ("Service", "gateway"),
        ("Deployment", "hub"),
        ("Deployment", "customer"),
        ("StatefulSet", "nats"),
        ("Deployment", "redis"),
        ("Deployment", "mongodb"),
        ("ConfigMap", "bobaku-hq-config"),
        ("Secret", "bobaku-mongodb"),
        ("NetworkPolicy", "bobaku-platform-internal"),
    ]:
        assert expected in kinds, expected
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet"):
            pod = o["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, o["metadata"]["name"]
    operator = next(
        o
        for o in objects
        if o["metadata"]["name"] == "bobaku-operator" and o["kind"] == "Deployment"
    )
    assert operator["spec"]["strategy"]["type"] == "Recreate"
    assert operator["spec"]["template"]["spec"]["serviceAccountName"] == "bobaku-operator"
    # CRDs travel in crds/ (installed before the templates, never deleted by helm).
    assert not any(o["kind"] == "CustomResourceDefinition" for o in objects)


def test_the_chart_uses_external_servers_when_asked(helm: Path) -> None:
    objects = render(
        helm,
        "--set",
        "nats.enabled=false,nats.url=nats://nats.example:4222",
        "--set",
        "redis.enabled=false,redis.url=redis://redis.example:6379/0",
        "--set",
        "mongodb.enabled=false,mongodb.existingSecret=mongo-credentials",
    )
    names = {o["metadata"]["name"] for o in objects}
    assert not {"nats", "redis", "mongodb", "bobaku-mongodb"} & names
    gateway = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "gateway"
    )
    env = {e["name"]: e for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["NATS_URL"]["value"] == "nats://nats.example:4222"
    assert env["MONGODB_URL"]["valueFrom"]["secretKeyRef"]["name"] == "mongo-credentials"


def test_the_chart_refuses_missing_or_wrong_values(helm: Path) -> None:
    missing = helm_run(
        helm, "template", "b", str(CHART), "--set", "nats.enabled=false", check=False
    )
    assert missing.returncode != 0
    assert "nats.url is required" in missing.stderr
    wrong = helm_run(helm, "template", "b", str(CHART), "--set", "operator.replicas=2", check=False)
    assert wrong.returncode != 0
    assert "operator/replicas" in wrong.stderr


def test_the_charts_crds_are_the_crds(helm: Path) -> None:
    for crd in sorted((ROOT / "crds").glob("*.yaml")):
        copy = CHART / "crds" / crd.name
        assert copy.read_bytes() == crd.read_bytes(), f"{copy} differs from {crd}: cp {crd} {copy}"
    shown = load_manifests(helm_run(helm, "show", "crds", str(CHART)).stdout)
    assert {c["metadata"]["name"] for c in shown} == {"franchises.bobaku.io", "outlets.bobaku.io"}


@pytest.mark.usefixtures("installed")
async def test_every_rendered_object_is_accepted_by_the_api_server(helm: Path, admin: Kube) -> None:
    """Server-side dry run: real schemas, defaulting and admission, nothing stored."""
    namespace = "chart-dry-run"
    await ensure_namespace(admin, namespace)
    objects = render(helm, namespace=namespace)
    accepted = await apply_manifests(admin, objects, dry_run=True)
    assert len(accepted) == len(objects)
    for sent, got in zip(objects, accepted, strict=True):
        assert (got["kind"], got["metadata"]["name"]) == (sent["kind"], sent["metadata"]["name"])


@pytest.mark.parametrize(
    "values",
    [CHART / "values.yaml", ROOT / "e2e" / "cluster-values.yaml", ROOT / "e2e" / "values.yaml"],
)
def test_every_service_the_chart_or_a_silo_can_run_exists(values: Path) -> None:
    import importlib.util

    import yaml

    from bobaku.operator.model import SILO_SERVICES

    services = yaml.safe_load(values.read_text()).get("services", {})
    modules = [svc.get("module", name) for name, svc in services.items()] + list(SILO_SERVICES)
    missing = [m for m in modules if importlib.util.find_spec(f"bobaku.services.{m}") is None]
    assert not missing, f"{values.name} names services that do not exist: {missing}"


def test_each_enabled_service_is_told_where_the_others_are(helm: Path) -> None:
    objects = render(helm, "-f", str(ROOT / "e2e" / "cluster-values.yaml"))
    env = deployment_env(objects, "gateway")
    assert env["ORDER_URL"] == "http://order.bobaku-system.svc:8080"
    assert env["PROVIDER_SIM_URL"] == "http://provider-sim.bobaku-system.svc:8080"
    assert "SERVICE_TOKEN" in env
    sim = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "provider-sim"
    )
    assert (
        sim["spec"]["template"]["spec"]["containers"][0]["command"][-1]
        == "bobaku.services.provider_sim"
    )
    # The default values deploy no demo simulator.
    assert not [o for o in render(helm) if o["metadata"]["name"] == "provider-sim"]


def test_analytics_is_on_with_what_it_needs_and_its_dashboard_reaches_the_hub(helm: Path) -> None:
    from bobaku.services.analytics.settings import AnalyticsSettings

    objects = render(helm, "--set", "auth.jwtSecret=bobaku-jwt")
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert {("Deployment", "analytics"), ("Service", "analytics")} <= kinds
    analytics = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "analytics"
    )
    command = analytics["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[-1] == "bobaku.services.analytics"
    env = deployment_env(objects, "analytics")
    # What its settings read: the bus, Redis (its read models), the token key, the hub.
    for name in ("NATS_URL", "REDIS_URL", "JWT_PUBLIC_KEY_FILE", "ANALYTICS_HUB_PUBLIC_WS_URL"):
        assert name in env, name
        assert name.lower() in AnalyticsSettings.model_fields, name
    assert env["ANALYTICS_HUB_PUBLIC_WS_URL"] == ""
    gateway = deployment_env(objects, "gateway")
    assert gateway["ANALYTICS_URL"] == "http://analytics.bobaku-system.svc:8080"

    # An operator who exposes the hub tells the dashboard where browsers find it.
    public = "wss://hub.bobaku.example/ws"
    objects = render(helm, "--set", f"services.analytics.env.ANALYTICS_HUB_PUBLIC_WS_URL={public}")
    assert deployment_env(objects, "analytics")["ANALYTICS_HUB_PUBLIC_WS_URL"] == public
    # Only analytics gets it: another service's variables are its own.
    assert "ANALYTICS_HUB_PUBLIC_WS_URL" not in deployment_env(objects, "customer")
    # A variable name the schema does not accept is refused.
    bad = helm_run(
        helm, "template", "bobaku", str(CHART), "--set", "services.analytics.env.bad-name=x",
        check=False,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "bad-name" in bad.stderr
