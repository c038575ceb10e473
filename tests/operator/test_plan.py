"""The pure part of the operator: from spec to desired state, no cluster involved."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from bobaku.operator.conditions import Condition, merge_conditions, ready
from bobaku.operator.config import OperatorSettings
from bobaku.operator.model import SILO_SERVICES, SIZING, Franchise, Outlet, Tier
from bobaku.operator.outlets import menu_registration
from bobaku.operator.plan import (
    Environment,
    availability,
    desired_replicas,
    merge_config,
    plan_franchise,
    plan_resource_quota,
    plan_service_token_secret,
    quantity,
    registered_outlets,
    rolled_out,
    routing_entry,
    tenant_connection_string,
)

ENV = Environment(platform_namespace="bobaku-system", db_prefix="bobaku")


def franchise(name: str = "jkt", **spec: Any) -> Franchise:
    return Franchise.from_body(
        {
            "metadata": {"name": name, "uid": "u-1", "generation": 3},
            "spec": {"displayName": "Jakarta", **spec},
        }
    )


def outlet(name: str, franchise_ref: str = "jkt", *, deleting: bool = False) -> Outlet:
    meta: dict[str, Any] = {"name": name, "uid": f"u-{name}", "generation": 1}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return Outlet.from_body(
        {"metadata": meta, "spec": {"franchiseRef": franchise_ref, "displayName": name}}
    )


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_configuration_merges_hq_then_franchise_then_outlet() -> None:
    hq = {"currency": "IDR", "pricing": {"taxRateBp": 1100, "serviceChargeBp": 0}, "tags": [1]}
    merged = merge_config(
        hq, {"pricing": {"serviceChargeBp": 500}, "tags": [2]}, {"currency": None}
    )
    assert merged == {"pricing": {"taxRateBp": 1100, "serviceChargeBp": 500}, "tags": [2]}
    assert hq["pricing"]["serviceChargeBp"] == 0  # the layers are never modified


@pytest.mark.parametrize(
    ("tier", "observed", "expected"),
    [
        (Tier.small, None, 1),
        (Tier.large, None, 3),
        (Tier.medium, 3, 3),  # the autoscaler's choice stands inside the range
        (Tier.large, 1, 3),  # a bigger tier raises the floor
        (Tier.small, 9, 2),  # a smaller one lowers the ceiling
    ],
)
def test_replicas_follow_the_tier_without_fighting_the_autoscaler(
    tier: Tier, observed: int | None, expected: int
) -> None:
    assert desired_replicas(SIZING[tier], observed) == expected


def test_a_franchise_plans_its_namespace_and_everything_in_it() -> None:
    plan = plan_franchise(franchise(tier="medium"), [outlet("a"), outlet("b")], {}, ENV)
    assert plan.namespace["metadata"]["name"] == "bobaku-fr-jkt"
    assert plan.namespace["metadata"]["labels"]["bobaku.io/tier"] == "medium"
    assert plan.database.name == "bobaku_fr_jkt"
    assert plan.outlets == ["a", "b"]
    objects = plan.objects
    silo = {"order", "payment", "menu", "supply", "analytics"}
    assert set(by_kind(objects, "Deployment")) == silo
    assert set(by_kind(objects, "Service")) == silo
    assert set(by_kind(objects, "HorizontalPodAutoscaler")) == silo
    assert set(by_kind(objects, "PodDisruptionBudget")) == silo
    assert set(by_kind(objects, "ConfigMap")) == {"bobaku-franchise-config", "outlet-a", "outlet-b"}
    assert set(by_kind(objects, "NetworkPolicy")) == {"bobaku-franchise-isolation"}
    assert set(by_kind(objects, "ResourceQuota")) == {"bobaku-franchise-quota"}
    for o in objects:
        assert o["metadata"]["namespace"] == "bobaku-fr-jkt"
        assert o["metadata"]["labels"]["bobaku.io/franchise"] == "jkt"
        assert o["metadata"]["ownerReferences"][0]["kind"] == "Franchise"
    order = by_kind(objects, "Deployment")["order"]
    assert order["spec"]["replicas"] == 2
    container = order["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "200m", "memory": "256Mi"}
    env = {e["name"]: e for e in container["env"]}
    assert env["MONGODB_URL"]["valueFrom"]["secretKeyRef"]["name"] == "bobaku-database"
    assert by_kind(objects, "PodDisruptionBudget")["order"]["spec"]["minAvailable"] == 1


def test_a_dense_test_node_gives_silo_pods_a_smaller_cpu_request_and_keeps_the_rest() -> None:
    settings = OperatorSettings(operator_silo_cpu_request_m=20)
    dense = Environment.from_settings(settings)
    plain = plan_franchise(franchise(), [], {}, ENV).objects
    packed = plan_franchise(franchise(), [], {}, dense).objects
    for service, deployment in by_kind(packed, "Deployment").items():
        resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
        tier = by_kind(plain, "Deployment")[service]["spec"]["template"]["spec"]["containers"][0]
        assert resources["requests"]["cpu"] == "20m", service
        assert tier["resources"]["requests"]["cpu"] == "100m", service
        # memory and limits stay the tier's
        assert resources["limits"] == tier["resources"]["limits"], service
        assert resources["requests"]["memory"] == tier["resources"]["requests"]["memory"]
    assert by_kind(packed, "ResourceQuota") == by_kind(plain, "ResourceQuota")


def test_the_silo_runs_analytics_for_its_franchise_on_a_keyspace_of_its_own() -> None:
    """The silo's analytics pod, started from what the plan gives it, is a silo instance of
    its franchise, names its consumers and Redis keys apart from the pooled instance's, and
    is the analytics its neighbours (supply's reorder forecast) and the gateway call."""
    from bobaku.services.analytics.settings import AnalyticsSettings

    public = "wss://hub.example.test/ws"
    env = Environment(
        platform_namespace="bobaku-system",
        platform_env=(
            ("ANALYTICS_URL", "http://analytics.bobaku-system.svc:8080"),
            ("ANALYTICS_HUB_PUBLIC_WS_URL", public),
        ),
    )
    plan = plan_franchise(franchise(), [outlet("a")], {}, env)
    deployment = by_kind(plan.objects, "Deployment")["analytics"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "bobaku.services.analytics"]
    config = by_kind(plan.objects, "ConfigMap")["bobaku-franchise-config"]["data"]
    variables = {
        k: v for k, v in config.items() if k.isupper() and k not in ("JWT_PUBLIC_KEY_FILE",)
    } | {e["name"]: e["value"] for e in container["env"] if "value" in e}
    silo = AnalyticsSettings.model_validate({k.lower(): v for k, v in variables.items()})
    pooled = AnalyticsSettings()
    assert (silo.deployment_mode, silo.franchise_id) == ("silo", "jkt")
    assert silo.instance_id != pooled.instance_id
    assert silo.analytics_hub_public_ws_url == public
    own = "http://analytics.bobaku-fr-jkt.svc.cluster.local:8080"
    assert config["ANALYTICS_URL"] == own
    assert routing_entry(franchise(), [], env, "t")["upstreams"]["analytics"] == own
    # A Service, an autoscaler and a disruption budget like every silo service, and room in
    # the quota for it at its maximum.
    for kind in ("Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert "analytics" in by_kind(plan.objects, kind), kind
    quota = by_kind(plan.objects, "ResourceQuota")["bobaku-franchise-quota"]["spec"]["hard"]
    assert quota == franchise().sizing.quota(SILO_SERVICES)
    # Its forecasts need more memory than the small tier gives a service: its floor.
    resources = container["resources"]
    assert (resources["requests"]["memory"], resources["limits"]["memory"]) == ("256Mi", "512Mi")
    order = by_kind(plan.objects, "Deployment")["order"]["spec"]["template"]["spec"]
    assert order["containers"][0]["resources"]["limits"]["memory"] == "256Mi"
    # Small: at most 2 pods of each service, plus a surge pod each.
    assert quota["limits.memory"] == f"{3 * (4 * 256 + 512)}Mi"


def test_the_plan_is_a_function_of_its_inputs() -> None:
    first = plan_franchise(franchise(), [outlet("a")], {"x": 1}, ENV)
    again = plan_franchise(franchise(), [outlet("a")], {"x": 1}, ENV)
    assert first == again


def test_a_configuration_change_rolls_the_pods_and_nothing_else_does() -> None:
    def digest(hq: dict[str, Any], *outlets: Outlet) -> str:
        plan = plan_franchise(franchise(), list(outlets), hq, ENV)
        deployment = by_kind(plan.objects, "Deployment")["order"]
        return str(
            deployment["spec"]["template"]["metadata"]["annotations"]["bobaku.io/config-hash"]
        )

    assert digest({"a": 1}) == digest({"a": 1}, outlet("new"))
    assert digest({"a": 1}) != digest({"a": 2})


def test_every_silo_pod_tells_prometheus_the_port_it_serves_metrics_on() -> None:
    plan = plan_franchise(franchise(), [outlet("a")], {}, ENV)
    deployments = by_kind(plan.objects, "Deployment")
    assert deployments
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        annotations = pod["metadata"]["annotations"]
        ports = {p["containerPort"] for c in pod["spec"]["containers"] for p in c["ports"]}
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/path"] == "/metrics", name
        assert int(annotations["prometheus.io/port"]) in ports, name


def test_only_the_franchises_live_outlets_are_registered() -> None:
    outlets = [outlet("b"), outlet("a"), outlet("x", "other"), outlet("gone", deleting=True)]
    assert [o.name for o in registered_outlets(franchise(), outlets)] == ["a", "b"]


def test_the_quota_fits_every_service_at_its_maximum_plus_a_surge_pod() -> None:
    hard = SIZING[Tier.small].quota(4)
    assert hard["pods"] == "12"
    assert hard["requests.cpu"] == "1200m"
    assert hard["services.loadbalancers"] == "0"


def test_the_tenant_connection_string_never_carries_the_operators_credentials() -> None:
    base = "mongodb://root:s3cret@db-0.example:27017,db-1.example:27017/admin?replicaSet=rs0"
    without_user = tenant_connection_string(base, "bobaku_fr_jkt", None, None)
    assert without_user == (
        "mongodb://db-0.example:27017,db-1.example:27017/bobaku_fr_jkt?replicaSet=rs0"
    )
    with_user = tenant_connection_string(base, "bobaku_fr_jkt", "bobaku_fr_jkt", "p@ss/word")
    assert with_user == (
        "mongodb://bobaku_fr_jkt:p%40ss%2Fword@db-0.example:27017,db-1.example:27017"
        "/bobaku_fr_jkt?replicaSet=rs0&authSource=bobaku_fr_jkt"
    )
    assert "s3cret" not in with_user


def test_the_routing_entry_has_the_gateways_contract_shape() -> None:
    entry = routing_entry(franchise("bdg-1"), ["b", "a"], ENV, "2026-01-01T00:00:00Z")
    assert entry == {
        "franchise_id": "bdg-1",
        "namespace": "bobaku-fr-bdg-1",
        "mode": "silo",
        "tier": "small",
        "upstreams": {
            "order": "http://order.bobaku-fr-bdg-1.svc.cluster.local:8080",
            "payment": "http://payment.bobaku-fr-bdg-1.svc.cluster.local:8080",
            "menu": "http://menu.bobaku-fr-bdg-1.svc.cluster.local:8080",
            "supply": "http://supply.bobaku-fr-bdg-1.svc.cluster.local:8080",
            "analytics": "http://analytics.bobaku-fr-bdg-1.svc.cluster.local:8080",
        },
        "outlets": ["a", "b"],
        "updated_at": "2026-01-01T00:00:00Z",
    }


def test_a_condition_keeps_its_transition_time_until_its_status_changes() -> None:
    first = merge_conditions(None, [Condition("Ready", "False", "Blocked")], 1, "t1")
    same = merge_conditions(first, [Condition("Ready", "False", "StillBlocked", "m")], 2, "t2")
    assert same[0]["lastTransitionTime"] == "t1"
    assert same[0]["reason"] == "StillBlocked"
    assert same[0]["observedGeneration"] == 2
    flipped = merge_conditions(same, [Condition("Ready", "True", "Reconciled")], 2, "t3")
    assert flipped[0]["lastTransitionTime"] == "t3"
    kept = merge_conditions(flipped, [Condition("Paused", "True", "PausedByAnnotation")], 2, "t4")
    assert [c["type"] for c in kept] == ["Paused", "Ready"]  # others stay as they were


def test_ready_names_the_first_part_that_is_not_ready() -> None:
    parts = [
        Condition("NamespaceReady", "True", "Applied"),
        Condition("DatabaseReady", "False", "DatabaseUnavailable", "connection refused"),
        Condition("ServicesReady", "Unknown", "Blocked"),
    ]
    verdict = ready(parts, ready_message="all good")
    assert (verdict.status, verdict.reason) == ("False", "DatabaseUnavailable")
    assert verdict.message == "DatabaseReady: connection refused"
    assert ready(parts[:1], ready_message="all good").status == "True"


def test_availability_reads_the_deployments_status() -> None:
    def deployment(name: str, replicas: int, available: int) -> dict[str, Any]:
        return {
            "metadata": {"name": name},
            "spec": {"replicas": replicas},
            "status": {"availableReplicas": available},
        }

    none, _ = availability([])
    assert none.status == "Unknown"
    some, workloads = availability(
        [deployment(s, 2, 2) for s in ("order", "payment", "menu", "analytics")]
        + [deployment("supply", 2, 1)]
    )
    assert (some.status, some.reason) == ("False", "ReplicasUnavailable")
    assert "supply 1/2" in some.message
    assert workloads["supply"] == {"replicas": 2, "availableReplicas": 1}
    missing, _ = availability([deployment(s, 1, 1) for s in ("order", "payment", "menu", "supply")])
    assert (missing.status, missing.message) == ("Unknown", "not deployed yet: analytics")
    all_up, _ = availability([deployment(s, 1, 1) for s in SILO_SERVICES])
    assert all_up.status == "True"


@pytest.mark.parametrize(("value", "paused"), [("true", True), ("True", True), ("no", False)])
def test_the_pause_annotation(value: str, paused: bool) -> None:
    body = {
        "metadata": {"name": "jkt", "annotations": {"bobaku.io/paused": value}},
        "spec": {"displayName": "Jakarta"},
    }
    assert Franchise.from_body(body).paused is paused


def test_silo_services_are_told_where_the_platform_and_each_other_are() -> None:
    env = Environment(
        platform_namespace="bobaku-system",
        platform_env=(("CUSTOMER_URL", "http://customer.bobaku-system.svc:8080"),),
        jwt_public_key="-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n",
    )
    objects = plan_franchise(franchise(), [], {}, env).objects
    data = by_kind(objects, "ConfigMap")["bobaku-franchise-config"]["data"]
    assert data["CUSTOMER_URL"] == "http://customer.bobaku-system.svc:8080"
    assert data["MENU_URL"] == "http://menu.bobaku-fr-jkt.svc.cluster.local:8080"
    assert data["PAYMENT_WEBHOOK_BASE_URL"] == data["PAYMENT_URL"]
    assert data["JWT_PUBLIC_KEY_FILE"] == "/etc/bobaku/jwt-public.pem"
    assert data["DEPLOYMENT_MODE"] == "silo"
    volume = by_kind(objects, "Deployment")["order"]["spec"]["template"]["spec"]["volumes"][0]
    assert {"key": "jwt-public.pem", "path": "jwt-public.pem"} in volume["configMap"]["items"]
    # The operator passes on where the brand-wide services are, analytics among them
    # (supply's reorder suggestions read its forecast).
    told = dict(
        Environment.from_settings(OperatorSettings(analytics_url="http://an:1")).platform_env
    )
    assert told["ANALYTICS_URL"] == "http://an:1"
    # and whose NATS streams are the platform's (a silo of deployment "acme" joins them).
    assert told["NATS_DEPLOYMENT_ID"] == "bobaku"
    acme = OperatorSettings(deployment_id="acme")
    assert dict(Environment.from_settings(acme).platform_env)["NATS_DEPLOYMENT_ID"] == "acme"
    # Every silo service (supply among them) calls the others' /internal routes with the
    # platform's service token, from the Secret the operator copies into the namespace.
    for service, deployment in by_kind(objects, "Deployment").items():
        env_of = {
            e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        ref = env_of["SERVICE_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "bobaku-service-token", "key": "SERVICE_TOKEN", "optional": True}, (
            service
        )
    secret = plan_service_token_secret(franchise(), "tok.en.jwt")
    assert secret["metadata"] == {
        **secret["metadata"],
        "name": "bobaku-service-token",
        "namespace": "bobaku-fr-jkt",
    }
    assert base64.b64decode(secret["data"]["SERVICE_TOKEN"]) == b"tok.en.jwt"
    # Without a key, no key file is promised to the services.
    bare = plan_franchise(franchise(), [], {}, ENV).objects
    assert (
        "JWT_PUBLIC_KEY_FILE" not in by_kind(bare, "ConfigMap")["bobaku-franchise-config"]["data"]
    )


def test_silos_trace_and_sample_as_the_operator_was_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger.observability.svc:4318")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.1")
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    env = Environment.from_settings(OperatorSettings())
    data = by_kind(plan_franchise(franchise(), [], {}, env).objects, "ConfigMap")[
        "bobaku-franchise-config"
    ]["data"]
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger.observability.svc:4318"
    assert data["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert data["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    # An operator that does not trace hands on nothing (the silos' tracing stays off).
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        monkeypatch.delenv(name)
    quiet = Environment.from_settings(OperatorSettings())
    data = by_kind(plan_franchise(franchise(), [], {}, quiet).objects, "ConfigMap")[
        "bobaku-franchise-config"
    ]["data"]
    assert not [k for k in data if k.startswith("OTEL_")]


def test_a_silo_is_told_by_the_brand_wide_notification_service_not_a_copy_of_its_own() -> None:
    """Notifications keep per-user state no franchise owns (preferences, inbox, devices), so
    the chart runs the service once (with SMTP, push and its signing key) and a silo runs
    none: its services publish on the platform's NATS, where that service reads them."""
    objects = plan_franchise(franchise(), [], {}, ENV).objects
    workloads = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    assert "notification" not in workloads
    assert "push-sim" not in workloads
    assert workloads == set(SILO_SERVICES)
    data = by_kind(objects, "ConfigMap")["bobaku-franchise-config"]["data"]
    assert data["NATS_URL"] == ENV.nats_url
    for deployment in by_kind(objects, "Deployment").values():
        env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert not {"SMTP_HOST", "PUSH_CREDENTIAL", "NOTIFICATION_SIGNING_KEY"} & env


def test_without_autoscaling_no_silo_gets_an_autoscaler() -> None:
    plain = plan_franchise(franchise(), [], {}, ENV)
    assert len(by_kind(plain.workloads, "HorizontalPodAutoscaler")) == len(SILO_SERVICES)
    off = Environment(platform_namespace="bobaku-system", db_prefix="bobaku", autoscaling=False)
    plan = plan_franchise(franchise(), [], {}, off)
    assert by_kind(plan.workloads, "HorizontalPodAutoscaler") == {}
    assert len(by_kind(plan.workloads, "Deployment")) == len(SILO_SERVICES)


def test_kubernetes_quantities() -> None:
    assert quantity("1500m") == quantity("1.5") == 1.5
    assert quantity("2Gi") == 2 * 1024**3
    assert quantity("2304Mi") == 2304 * 1024**2
    assert quantity("12") == 12
    assert quantity("lots") is None


def test_the_quota_keeps_the_floor_it_is_given_where_that_is_larger() -> None:
    large = SIZING[Tier.large].quota(SILO_SERVICES)
    small = plan_resource_quota(franchise(tier="small"))["spec"]["hard"]
    # The API server writes quantities back in its own form: 4 cores, not 4000m.
    floor = {**large, "limits.cpu": str(quantity(large["limits.cpu"]))}
    held = plan_resource_quota(franchise(tier="small"), floor)["spec"]["hard"]
    assert held["pods"] == large["pods"] != small["pods"]
    assert quantity(held["requests.cpu"]) == quantity(large["requests.cpu"])
    assert quantity(held["limits.cpu"]) == quantity(large["limits.cpu"])
    # A floor below the tier changes nothing; keys it lacks keep the tier's value.
    assert plan_resource_quota(franchise(tier="large"), small)["spec"]["hard"] == large
    assert plan_resource_quota(franchise(tier="small"), {"pods": "1"})["spec"]["hard"] == small


def _deployment(tier: str, generation: int = 2, **status: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "order", "generation": generation},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"bobaku.io/tier": tier}}}},
        "status": status,
    }


def test_a_deployment_has_rolled_out_when_every_pod_runs_its_template_of_the_tier() -> None:
    done = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2}
    assert rolled_out(_deployment("small", **done), "small")
    assert not rolled_out(_deployment("medium", **done), "small")  # about to change
    assert not rolled_out(_deployment("small", **{**done, "observedGeneration": 1}), "small")
    assert not rolled_out(_deployment("small", **{**done, "replicas": 3}), "small")  # surge
    assert not rolled_out(_deployment("small", **{**done, "updatedReplicas": 1}), "small")


def test_an_outlet_is_registered_in_the_menu_with_its_hours_per_day() -> None:
    body = {
        "metadata": {"name": "jkt-selatan-senopati", "uid": "u-1", "generation": 1},
        "spec": {
            "franchiseRef": "jkt-selatan",
            "displayName": "BobaKu Senopati",
            "city": "Jakarta",
            "openingHours": {"opens": "09:00", "closes": "01:00", "days": ["Mon", "Sat"]},
        },
    }
    assert menu_registration(Outlet.from_body(body)) == {
        "franchise_id": "jkt-selatan",
        "name": "BobaKu Senopati",
        "address": "",
        "phone": "",
        "city": "Jakarta",
        "opening_hours": {
            "mon": [{"open": "09:00", "close": "01:00"}],
            "sat": [{"open": "09:00", "close": "01:00"}],
        },
    }
