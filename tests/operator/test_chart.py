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
        "--set",
        "platform.deploymentId=acme",  # a second platform on that NATS server
    )
    names = {o["metadata"]["name"] for o in objects}
    assert not {"nats", "redis", "mongodb", "bobaku-mongodb"} & names
    gateway = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "gateway"
    )
    env = {e["name"]: e for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["NATS_URL"]["value"] == "nats://nats.example:4222"
    assert env["DEPLOYMENT_ID"]["value"] == "acme"  # its streams, subjects, buckets: acme_…
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


def _pod_templates(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The platform's own processes (each told its SERVICE_NAME), not the in-cluster dev
    servers (NATS, Redis, FerretDB, Mailpit), which are scraped through their exporters."""
    return {
        o["metadata"]["name"]: o["spec"]["template"]
        for o in objects
        if o["kind"] == "Deployment"
        and any(
            e["name"] == "SERVICE_NAME"
            for e in o["spec"]["template"]["spec"]["containers"][0].get("env", [])
        )
    }


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_every_pod_tells_prometheus_where_its_metrics_are(helm: Path) -> None:
    pods = _pod_templates(render(helm))
    assert {"gateway", "hub", "bobaku-operator"} <= set(pods)
    for name, pod in pods.items():
        annotations = pod["metadata"].get("annotations", {})
        container = pod["spec"]["containers"][0]
        ports = {p["containerPort"] for p in container["ports"]}
        assert annotations.get("prometheus.io/scrape") == "true", name
        assert annotations["prometheus.io/path"] == "/metrics", name
        assert int(annotations["prometheus.io/port"]) in ports, name
    # The operator serves /metrics only when told a port: the annotation's port is that one.
    operator = pods["bobaku-operator"]
    env = {e["name"]: e.get("value") for e in operator["spec"]["containers"][0]["env"]}
    assert env["OPERATOR_METRICS_PORT"] == operator["metadata"]["annotations"]["prometheus.io/port"]
    assert env["OPERATOR_METRICS_HOST"] == "0.0.0.0"


def test_scrape_annotations_can_be_turned_off(helm: Path) -> None:
    pods = _pod_templates(render(helm, "--set", "monitoring.podAnnotations=false"))
    for name, pod in pods.items():
        assert "prometheus.io/scrape" not in pod["metadata"].get("annotations", {}), name
    kinds = {o["kind"] for o in render(helm)}
    assert not kinds & {"ServiceMonitor", "PodMonitor"}


def test_the_prometheus_operator_monitors_select_every_process(helm: Path) -> None:
    objects = render(
        helm,
        "--set", "monitoring.serviceMonitor.enabled=true",
        "--set", "monitoring.serviceMonitor.labels.release=kps",
        "--set", "monitoring.serviceMonitor.interval=15s",
    )  # fmt: skip
    monitors = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    service_monitor = monitors[("ServiceMonitor", "bobaku-platform")]
    pod_monitor = monitors[("PodMonitor", "bobaku-operator")]
    for monitor in (service_monitor, pod_monitor):
        assert monitor["metadata"]["labels"]["release"] == "kps"
    # Every Service of the chart is selected and has the port the endpoint names.
    selector = service_monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = service_monitor["spec"]["endpoints"]
    assert endpoint["interval"] == "15s"
    assert endpoint["path"] == "/metrics"
    services = [o for o in objects if o["kind"] == "Service"]
    platform = [s for s in services if s["metadata"]["name"] in {"gateway", "hub", "customer"}]
    assert len(platform) == 3
    for service in platform:
        assert _matches(selector, service["metadata"]["labels"]), service["metadata"]["name"]
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    # The PodMonitor selects the operator's pods, whose container has the named port.
    operator = _pod_templates(objects)["bobaku-operator"]
    assert _matches(pod_monitor["spec"]["selector"]["matchLabels"], operator["metadata"]["labels"])
    (pod_endpoint,) = pod_monitor["spec"]["podMetricsEndpoints"]
    assert pod_endpoint["port"] in {p["name"] for p in operator["spec"]["containers"][0]["ports"]}


def test_bad_monitoring_values_are_refused(helm: Path) -> None:
    result = helm_run(
        helm, "template", "bobaku", str(CHART),
        "--set", "monitoring.serviceMonitor.interval=often", check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "interval" in result.stderr


def test_tracing_is_wired_into_every_process_only_when_an_endpoint_is_given(helm: Path) -> None:
    def env_of(objects: list[dict[str, Any]]) -> dict[str, dict[str, str | None]]:
        return {
            name: {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
            for name, pod in _pod_templates(objects).items()
        }

    quiet = env_of(render(helm))
    assert not [(n, k) for n, env in quiet.items() for k in env if k.startswith("OTEL_")]
    traced = env_of(
        render(helm, "--set", "tracing.otlpEndpoint=http://collector:4318",
               "--set-json", "tracing.sampleRatio=0.25")
    )  # fmt: skip
    for name, env in traced.items():
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318", name
        assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio", name
        assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.25", name
    refused = helm_run(
        helm, "template", "bobaku", str(CHART), "--set", "tracing.sampleRatio=2", check=False
    )
    assert refused.returncode != 0
    assert "sampleRatio" in refused.stderr


def _deployment(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name)


def _env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}


def test_the_providers_keys_reach_payment_and_the_operator_that_copies_them_to_silos(
    helm: Path,
) -> None:
    keys = [f"PROVIDER_SECRET_{p}" for p in ("GOPAY", "OVO", "DANA", "SHOPEEPAY", "QRIS", "CARD")]
    # (the pooled payment is off by default: the franchises' silos serve payments)
    pooled = ("--set", "services.payment.enabled=true")
    objects = render(helm, *pooled, "--set", "auth.providerSecret=provider-keys")
    for name in ("payment", "bobaku-operator"):
        env = _env(_deployment(objects, name))
        for key in keys:
            ref = env[key]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "provider-keys", "key": key}, (name, key)
    # Without the Secret neither gets a key (a production process then refuses to start).
    for name in ("payment", "bobaku-operator"):
        assert not [k for k in _env(_deployment(render(helm, *pooled), name)) if k in keys], name


def test_the_notification_service_gets_mailpit_the_push_simulator_and_its_secrets(
    helm: Path,
) -> None:
    objects = render(helm)
    notification = _deployment(objects, "notification")
    container = notification["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == "bobaku.services.notification"
    env = _env(notification)
    ns = "bobaku-system.svc"
    assert env["SMTP_HOST"]["value"] == f"mailpit.{ns}"
    assert env["SMTP_PORT"]["value"] == "1025"
    assert env["FCM_URL"]["value"] == f"http://push-sim.{ns}:8080/fcm"
    assert env["APNS_URL"]["value"] == f"http://push-sim.{ns}:8080/apns"
    assert env["GATEWAY_PUBLIC_URL"]["value"] == f"http://gateway.{ns}:8080"
    assert env["CUSTOMER_URL"]["value"] == f"http://customer.{ns}:8080"
    for key in ("NOTIFICATION_SIGNING_KEY", "PUSH_CREDENTIAL"):
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "bobaku-notification", "key": key}
    # The simulator checks the same credential, and sends its receipts to the service.
    sim = _env(_deployment(objects, "push-sim"))
    assert sim["PUSH_CREDENTIAL"] == env["PUSH_CREDENTIAL"]
    assert sim["NOTIFICATION_URL"]["value"] == f"http://notification.{ns}:8080"
    # Only those two get them.
    assert not {"SMTP_HOST", "PUSH_CREDENTIAL"} & set(_env(_deployment(objects, "customer")))
    [secret] = [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == (
        "bobaku-notification")]  # fmt: skip
    # Both random per release (never the documented defaults, which a process in production
    # refuses); helm template has no Secret to keep, so each render draws new ones.
    again = render(helm)[objects.index(secret)]["stringData"]
    for key, length in (("NOTIFICATION_SIGNING_KEY", 48), ("PUSH_CREDENTIAL", 40)):
        value = secret["stringData"][key]
        assert len(value) == length
        assert value not in ("dev-notification-key", "dev-push-credential")
        assert value != again[key]
    assert env["ENVIRONMENT"]["value"] == "production"
    mailpit = _deployment(objects, "mailpit")
    ports = {p["name"]: p["containerPort"] for p in
             mailpit["spec"]["template"]["spec"]["containers"][0]["ports"]}  # fmt: skip
    assert ports == {"smtp": 1025, "http": 8025}
    assert mailpit["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert ("Service", "mailpit") in {(o["kind"], o["metadata"]["name"]) for o in objects}


def test_the_notification_service_uses_the_mail_server_providers_and_secret_it_is_given(
    helm: Path,
) -> None:
    objects = render(
        helm,
        "--set", "services.push-sim.enabled=false,notification.mailpit.enabled=false",
        "--set", "notification.smtp.host=smtp.example.net,notification.smtp.port=2525",
        "--set", "notification.existingSecret=notification-keys",
        "--set", "notification.gatewayPublicUrl=https://api.bobaku.id",
        "--set", "auth.serviceTokenSecret=service-token",
    )  # fmt: skip
    names = {o["metadata"]["name"] for o in objects}
    assert not {"mailpit", "push-sim", "bobaku-notification"} & names
    env = _env(_deployment(objects, "notification"))
    assert env["SMTP_HOST"]["value"] == "smtp.example.net"
    assert env["SMTP_PORT"]["value"] == "2525"
    assert env["FCM_URL"]["value"] == "https://fcm.googleapis.com"
    assert env["APNS_URL"]["value"] == "https://api.push.apple.com"
    assert env["GATEWAY_PUBLIC_URL"]["value"] == "https://api.bobaku.id"
    for key in ("NOTIFICATION_SIGNING_KEY", "PUSH_CREDENTIAL"):
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "notification-keys", "key": key}
    assert env["SERVICE_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "service-token"
    # A credential of one's own goes into the chart's Secret.
    objects = render(
        helm, "--set", "services.push-sim.enabled=false,notification.pushCredential=real-one"
    )
    [secret] = [o for o in objects if o["metadata"]["name"] == "bobaku-notification"]
    assert secret["stringData"]["PUSH_CREDENTIAL"] == "real-one"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("notification.mailpit.enabled=false", "notification.smtp.host is required"),
        ("services.push-sim.enabled=false", "notification.pushCredential or notification.exis"),
        ("notification.smtp.port=0", "notification/smtp/port"),
        ("notification.fcmUrl=fcm.example", "notification/fcmUrl"),
    ],
)  # fmt: skip
def test_the_chart_refuses_a_notification_service_without_mail_or_push_settings(
    helm: Path, values: str, message: str
) -> None:
    result = helm_run(helm, "template", "b", str(CHART), "--set", values, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_supply_runs_with_what_it_needs(helm: Path) -> None:
    """On by default; with the cluster values (menu and analytics beside it, a service token)
    it is told where the menu is, carries the token, and the gateway can route to it."""
    assert ("Deployment", "supply") in {(o["kind"], o["metadata"]["name"]) for o in render(helm)}
    objects = render(
        helm,
        "-f",
        str(ROOT / "e2e" / "cluster-values.yaml"),
        "--set",
        "services.analytics.enabled=true",
    )
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    container = deployments["supply"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "bobaku.services.supply"]
    env = {e["name"]: e for e in container["env"]}
    assert env["MENU_URL"]["value"] == "http://menu.bobaku-system.svc:8080"
    assert env["ANALYTICS_URL"]["value"] == "http://analytics.bobaku-system.svc:8080"
    assert env["SERVICE_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "SERVICE_TOKEN"
    gateway = deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "SUPPLY_URL", "value": "http://supply.bobaku-system.svc:8080"} in gateway["env"]
    order = {
        e["name"]: e
        for e in deployments["order"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert order["SUPPLY_URL"]["value"] == "http://supply.bobaku-system.svc:8080"


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
    # Only analytics gets it: another service's variables are its own ...
    assert "ANALYTICS_HUB_PUBLIC_WS_URL" not in deployment_env(objects, "customer")
    # ... and the operator, for the silo analytics' pages (the silo plan passes it on).
    from bobaku.operator.config import OperatorSettings

    operator = deployment_env(objects, "bobaku-operator")
    assert operator["OPERATOR_ANALYTICS_HUB_PUBLIC_WS_URL"] == public
    assert "operator_analytics_hub_public_ws_url" in OperatorSettings.model_fields
    # The pooled analytics reads the routing table the operator writes (which franchises
    # have a silo of their own), as the gateway does: one bucket for all three.
    objects = render(helm, "--set", "operator.routingBucket=routing_x")
    for name in ("analytics", "gateway", "bobaku-operator"):
        assert deployment_env(objects, name)["ROUTING_BUCKET"] == "routing_x", name
    # A variable name the schema does not accept is refused.
    bad = helm_run(
        helm, "template", "bobaku", str(CHART), "--set", "services.analytics.env.bad-name=x",
        check=False,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "bad-name" in bad.stderr
