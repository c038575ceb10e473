"""A Franchise on a real API server, reconciled by the real operator process."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from support import eventually

from bobaku.kernel.bus import EventBus
from bobaku.kernel.db import Databases
from bobaku.kernel.routing_table import RoutingEntries
from bobaku.operator.config import OperatorSettings
from bobaku.operator.database import TenantDatabases
from bobaku.operator.kube import Kube
from bobaku.operator.outlets import MenuOutlets
from bobaku.operator.plan import FRANCHISE_INDEXES
from bobaku.operator.reconcile import Reconciler
from bobaku.services.payment.domain.fees import PROVIDERS

# Fixtures from this folder's conftest.py: `cluster` (the admin's view, with the run's
# names), `admin` (API client as cluster admin), `mongo`, `routing`, `unique`.

pytestmark = pytest.mark.slow

SILO = ("order", "payment", "menu", "supply", "analytics")
# The callback keys the session's operator is given (conftest.py's PROVIDER_KEYS).
PROVIDER_KEYS = {f"PROVIDER_SECRET_{p.upper()}": f"k-{p}-test-key" for p in PROVIDERS}
Mongo = AsyncMongoClient[dict[str, Any]]
Cluster = Any  # conftest.Cluster


async def test_a_franchise_yields_its_namespace_database_services_and_route(
    cluster: Cluster, admin: Kube, mongo: Mongo, routing: RoutingEntries, unique: str
) -> None:
    name = f"jkt-{unique}"
    ns = f"bobaku-fr-{name}"
    await cluster.apply(
        "Franchise",
        name,
        {
            "displayName": "BobaKu Jakarta Selatan",
            "owner": "owner@jkt.example.com",
            "retention": "Delete",
            "config": {"pricing": {"serviceChargeBp": 500}, "menu": {"unavailable": ["m009"]}},
        },
    )
    body = await cluster.wait_for("Franchise", name, "Ready")

    # Defaults from the CRD, and the status.
    assert body["spec"]["tier"] == "small"
    status = body["status"]
    assert status["observedGeneration"] == body["metadata"]["generation"]
    assert (status["namespace"], status["database"], status["tier"]) == (
        ns,
        cluster.db_name(name),
        "small",
    )
    for type_ in ("Ready", "NamespaceReady", "DatabaseReady", "ServicesReady", "RoutingReady"):
        found = cluster.condition(body, type_)
        assert found["status"] == "True", found
        assert found["lastTransitionTime"].endswith("Z")
        assert found["reason"]
        assert found["message"]
    assert cluster.condition(body, "Paused")["status"] == "False"
    # No kubelet here: nothing runs, and the status says so instead of claiming it does.
    assert cluster.condition(body, "Available")["status"] in ("Unknown", "False")

    namespace = await admin.get("v1", "Namespace", ns)
    assert namespace is not None
    labels = namespace["metadata"]["labels"]
    assert labels["bobaku.io/franchise"] == name
    assert labels["bobaku.io/tier"] == "small"
    assert labels["app.kubernetes.io/managed-by"] == "bobaku-operator"

    # Configuration: HQ's (from the chart's ConfigMap) with the franchise's merged over it.
    config_map = await admin.get("v1", "ConfigMap", "bobaku-franchise-config", ns)
    assert config_map is not None
    config = json.loads(config_map["data"]["config.json"])
    assert config["currency"] == "IDR"  # HQ
    assert config["pricing"]["taxRateBp"] == 1100  # HQ, beside the override
    assert config["pricing"]["serviceChargeBp"] == 500  # franchise
    assert config["menu"]["unavailable"] == ["m009"]
    assert config["franchise"] == {
        "id": name,
        "displayName": "BobaKu Jakarta Selatan",
        "tier": "small",
    }
    assert config_map["data"]["FRANCHISE_ID"] == name
    assert config_map["data"]["MONGODB_DB_PREFIX"] == cluster.db_prefix

    # The database really exists on the MongoDB-wire server, with the franchise's indexes
    # (exactly the silo services' declarations: orders and payments keep their read models
    # in Redis, so no index is made for them).
    assert cluster.db_name(name) in await mongo.list_database_names()
    db = mongo[cluster.db_name(name)]
    assert "outlets" in await db.list_collection_names()
    for collection, models in FRANCHISE_INDEXES.for_scope("franchise").items():
        present = {ix["name"] async for ix in await db[collection].list_indexes()}
        assert {m.document["name"] for m in models} <= present
    assert "orders" not in await db.list_collection_names()

    secret = await admin.get("v1", "Secret", "bobaku-database", ns)
    assert secret is not None
    url = base64.b64decode(secret["data"]["MONGODB_URL"]).decode()
    assert url.startswith("mongodb://")
    assert url.split("?")[0].endswith(f"/{cluster.db_name(name)}")
    database_ready = cluster.condition(body, "DatabaseReady")
    user = base64.b64decode(secret["data"]["MONGODB_USERNAME"]).decode()
    if database_ready["reason"] == "UserCreated":
        info = await mongo[cluster.db_name(name)].command({"usersInfo": cluster.db_name(name)})
        assert [u["user"] for u in info["users"]] == [cluster.db_name(name)]
        assert user == cluster.db_name(name)
        assert f"{user}:" in url
    else:
        # FerretDB 1.24 (SQLite): no createUser; the condition says so, and no credentials
        # are invented.
        assert database_ready["reason"] == "NoUserSupport"
        assert "createUser" in database_ready["message"]
        assert user == ""
        assert "@" not in url

    # The providers' callback keys the operator was given, copied for the silo payment
    # service (which reads them from the Secret; a production silo without them would not
    # start: finding 15).
    keys = await admin.get("v1", "Secret", "bobaku-provider-secrets", ns)
    assert keys is not None
    assert {k: base64.b64decode(v).decode() for k, v in keys["data"].items()} == PROVIDER_KEYS
    payment = await admin.get("apps/v1", "Deployment", "payment", ns)
    assert payment is not None
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in payment["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"].startswith("PROVIDER_SECRET_")
    }
    assert refs == {
        k: {"name": "bobaku-provider-secrets", "key": k, "optional": True} for k in PROVIDER_KEYS
    }
    order = await admin.get("apps/v1", "Deployment", "order", ns)
    assert order is not None
    assert not [
        e
        for e in order["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"].startswith("PROVIDER_SECRET_")
    ]

    # The silo services, sized by tier.
    for service in SILO:
        deployment = await admin.get("apps/v1", "Deployment", service, ns)
        assert deployment is not None, service
        spec = deployment["spec"]
        assert spec["replicas"] == 1
        container = spec["template"]["spec"]["containers"][0]
        # (analytics: its memory floor, whatever the tier)
        memory = "256Mi" if service == "analytics" else "128Mi"
        assert container["resources"]["requests"] == {"cpu": "100m", "memory": memory}
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["command"] == ["python", "-m", f"bobaku.services.{service}"]
        assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        svc = await admin.get("v1", "Service", service, ns)
        assert svc is not None
        assert svc["spec"]["ports"][0]["port"] == 8080
        hpa = await admin.get("autoscaling/v2", "HorizontalPodAutoscaler", service, ns)
        assert hpa is not None
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 2)
        pdb = await admin.get("policy/v1", "PodDisruptionBudget", service, ns)
        assert pdb is not None
        assert pdb["spec"]["maxUnavailable"] == 1

    policy = await admin.get(
        "networking.k8s.io/v1", "NetworkPolicy", "bobaku-franchise-isolation", ns
    )
    assert policy is not None
    sources = policy["spec"]["ingress"][0]["from"]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": cluster.platform_ns}}
    } in sources
    assert {"podSelector": {}} in sources
    assert len(sources) == 2
    quota = await admin.get("v1", "ResourceQuota", "bobaku-franchise-quota", ns)
    assert quota is not None
    assert quota["spec"]["hard"]["pods"] == str(len(SILO) * 3)
    assert quota["spec"]["hard"]["services.loadbalancers"] == "0"

    # The gateway's routing entry, in the contract's shape.
    entry = await routing.get(f"franchise.{name}")
    assert entry is not None
    assert entry["franchise_id"] == name
    assert entry["namespace"] == ns
    assert entry["mode"] == "silo"
    assert entry["tier"] == "small"
    assert entry["upstreams"] == {s: f"http://{s}.{ns}.svc.cluster.local:8080" for s in SILO}
    assert entry["outlets"] == []
    assert entry["updated_at"].endswith("Z")

    # A Kubernetes Event for each step.
    async def all_steps_told() -> bool:
        reasons = await cluster.event_reasons(name)
        return {
            "NamespaceCreated",
            "NamespaceConfigured",
            "DatabaseCreated",
            "ServicesApplied",
            "RoutingPublished",
            "Ready",
        } <= reasons

    await eventually(all_steps_told, timeout=10)
    events = await cluster.events(name)
    assert all(e["involvedObject"]["kind"] == "Franchise" for e in events)


async def test_reconciling_again_changes_nothing(
    cluster: Cluster, admin: Kube, unique: str
) -> None:
    name = f"idem-{unique}"
    ns = f"bobaku-fr-{name}"
    await cluster.apply("Franchise", name, {"displayName": "Idempotent"})
    await cluster.wait_for("Franchise", name, "Ready")
    before = {
        d["metadata"]["name"]: d["metadata"]["resourceVersion"]
        for d in await admin.list("apps/v1", "Deployment", ns)
    }
    transitions = cluster.condition(await cluster.get("Franchise", name), "Ready")[
        "lastTransitionTime"
    ]
    # Touch the Franchise without changing its spec: a label triggers a full reconcile.
    await cluster.apply("Franchise", name, {"displayName": "Idempotent"}, labels={"touched": "1"})

    async def handled_again() -> bool:
        body = await cluster.get("Franchise", name)
        handled = (
            (body or {})["metadata"]
            .get("annotations", {})
            .get("bobaku.io/last-handled-configuration", "")
        )
        return '"touched"' in handled

    await eventually(handled_again, timeout=15)
    after = {
        d["metadata"]["name"]: d["metadata"]["resourceVersion"]
        for d in await admin.list("apps/v1", "Deployment", ns)
    }
    assert after == before
    assert (
        cluster.condition(await cluster.get("Franchise", name), "Ready")["lastTransitionTime"]
        == transitions
    )


async def test_a_deleted_deployment_comes_back_and_an_edited_one_is_restored(
    cluster: Cluster, admin: Kube, unique: str
) -> None:
    name = f"drift-{unique}"
    ns = f"bobaku-fr-{name}"
    await cluster.apply("Franchise", name, {"displayName": "Drift"})
    await cluster.wait_for("Franchise", name, "Ready")
    original = await admin.get("apps/v1", "Deployment", "payment", ns)
    assert original is not None

    assert await admin.delete("apps/v1", "Deployment", "payment", ns)

    async def recreated() -> bool:
        again = await admin.get("apps/v1", "Deployment", "payment", ns)
        return again is not None and again["metadata"]["uid"] != original["metadata"]["uid"]

    await eventually(recreated, timeout=20)

    # Someone edits the image by hand: the next resync puts the operator's back.
    await admin.patch(
        "apps/v1",
        "Deployment",
        "menu",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "menu", "image": "evil:latest"}]}}
            }
        },
        namespace=ns,
    )
    # (a strategic-merge-free merge patch replaces the container list; still "drift")

    async def restored() -> bool:
        menu = await admin.get("apps/v1", "Deployment", "menu", ns)
        containers = (menu or {})["spec"]["template"]["spec"]["containers"]
        return [c["image"] for c in containers] == [cluster.silo_image]

    await eventually(restored, timeout=20)

    async def told() -> bool:
        return "DriftCorrected" in await cluster.event_reasons(name)

    await eventually(told, timeout=10)


async def test_a_tier_change_rolls_out_replicas_resources_and_quota(
    cluster: Cluster, admin: Kube, routing: RoutingEntries, unique: str
) -> None:
    name = f"tier-{unique}"
    ns = f"bobaku-fr-{name}"
    await cluster.apply("Franchise", name, {"displayName": "Tiered", "tier": "small"})
    await cluster.wait_for("Franchise", name, "Ready")

    await cluster.apply("Franchise", name, {"displayName": "Tiered", "tier": "large"})
    body = await cluster.wait_for("Franchise", name, "Ready")
    assert body["status"]["tier"] == "large"
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"] == 2

    for service in SILO:
        deployment = await admin.get("apps/v1", "Deployment", service, ns)
        assert deployment is not None
        assert deployment["spec"]["replicas"] == 3
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}
        assert container["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}
        hpa = await admin.get("autoscaling/v2", "HorizontalPodAutoscaler", service, ns)
        assert hpa is not None
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
        pdb = await admin.get("policy/v1", "PodDisruptionBudget", service, ns)
        assert pdb is not None
        assert pdb["spec"].get("minAvailable") == 2
        assert "maxUnavailable" not in pdb["spec"]
    quota = await admin.get("v1", "ResourceQuota", "bobaku-franchise-quota", ns)
    assert quota is not None
    assert quota["spec"]["hard"]["pods"] == str(len(SILO) * 11)
    namespace = await admin.get("v1", "Namespace", ns)
    assert namespace is not None
    assert namespace["metadata"]["labels"]["bobaku.io/tier"] == "large"
    entry = await routing.get(f"franchise.{name}")
    assert entry is not None
    assert entry["tier"] == "large"

    # And back down: replicas follow the smaller tier's range.
    await cluster.apply("Franchise", name, {"displayName": "Tiered", "tier": "medium"})
    await cluster.wait_for("Franchise", name, "Ready")
    order = await admin.get("apps/v1", "Deployment", "order", ns)
    assert order is not None
    assert order["spec"]["replicas"] == 3

    # The quota stays the larger tier's while the pods roll out: shrunk first, it would
    # admit no new pod while the old ones hold it, and they wait for new ones (deadlock).
    # There is no controller-manager here: the test reports each rollout done itself.
    large_pods, medium_pods = str(len(SILO) * 11), str(len(SILO) * 5)
    quota = await admin.get("v1", "ResourceQuota", "bobaku-franchise-quota", ns)
    assert quota is not None
    assert quota["spec"]["hard"]["pods"] == large_pods  # after the reconcile of the move
    for service in SILO:
        deployment = await admin.get("apps/v1", "Deployment", service, ns)
        assert deployment is not None
        assert deployment["spec"]["template"]["metadata"]["labels"]["bobaku.io/tier"] == "medium"
        replicas = deployment["spec"]["replicas"]
        done = {
            "observedGeneration": deployment["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }
        await admin.patch(
            "apps/v1", "Deployment", service, {"status": done}, namespace=ns, subresource="status"
        )

    async def shrunk() -> bool:
        quota = await admin.get("v1", "ResourceQuota", "bobaku-franchise-quota", ns)
        return (quota or {}).get("spec", {}).get("hard", {}).get("pods") == medium_pods

    await eventually(shrunk, timeout=20)


@pytest.mark.parametrize("retention", ["Delete", "Retain"])
async def test_deletion_honours_the_retention_policy(
    cluster: Cluster,
    admin: Kube,
    mongo: Mongo,
    routing: RoutingEntries,
    unique: str,
    retention: str,
) -> None:
    name = f"bye-{retention.lower()}-{unique}"
    ns = f"bobaku-fr-{name}"
    await cluster.apply("Franchise", name, {"displayName": "Leaving", "retention": retention})
    await cluster.wait_for("Franchise", name, "Ready")
    assert cluster.db_name(name) in await mongo.list_database_names()
    body = await cluster.get("Franchise", name)
    assert body is not None
    assert "bobaku.io/finalizer" in body["metadata"]["finalizers"]

    assert await admin.delete("bobaku.io/v1alpha1", "Franchise", name)
    await cluster.gone("Franchise", name)

    # No controller-manager here, so the namespace stays Terminating; deletion was asked.
    namespace = await admin.get("v1", "Namespace", ns)
    assert namespace is None or namespace["metadata"].get("deletionTimestamp")
    assert await routing.get(f"franchise.{name}") is None
    databases = await mongo.list_database_names()
    if retention == "Delete":
        assert cluster.db_name(name) not in databases
    else:
        assert cluster.db_name(name) in databases
    reasons = await cluster.event_reasons(name)
    assert {"RoutingRemoved", "NamespaceDeleted"} <= reasons
    assert ("DatabaseDropped" if retention == "Delete" else "DatabaseRetained") in reasons


async def test_the_pause_annotation_stops_reconciling_until_removed(
    cluster: Cluster, admin: Kube, unique: str
) -> None:
    name = f"pause-{unique}"
    ns = f"bobaku-fr-{name}"
    await cluster.apply("Franchise", name, {"displayName": "Paused"})
    await cluster.wait_for("Franchise", name, "Ready")

    paused = {"bobaku.io/paused": "true"}
    await cluster.apply("Franchise", name, {"displayName": "Paused"}, annotations=paused)
    await cluster.wait_for("Franchise", name, "Paused", timeout=15)
    await cluster.apply(
        "Franchise", name, {"displayName": "Paused", "tier": "medium"}, annotations=paused
    )

    async def change_handled() -> bool:
        body = await cluster.get("Franchise", name)
        handled = (
            (body or {})["metadata"]
            .get("annotations", {})
            .get("bobaku.io/last-handled-configuration", "")
        )
        return '"medium"' in handled

    # kopf has handled the tier change (and the operator skipped it): nothing rolled out.
    await eventually(change_handled, timeout=15)
    order = await admin.get("apps/v1", "Deployment", "order", ns)
    assert order is not None
    assert order["spec"]["replicas"] == 1
    body = await cluster.get("Franchise", name)
    assert body is not None
    assert body["status"]["tier"] == "small"
    assert body["status"]["observedGeneration"] < body["metadata"]["generation"]

    await cluster.apply("Franchise", name, {"displayName": "Paused", "tier": "medium"})
    body = await cluster.wait_for("Franchise", name, "Ready")
    assert body["status"]["tier"] == "medium"
    assert cluster.condition(body, "Paused")["status"] == "False"
    order = await admin.get("apps/v1", "Deployment", "order", ns)
    assert order is not None
    assert order["spec"]["replicas"] == 2
    assert {"Paused", "Resumed"} <= await cluster.event_reasons(name)


async def test_a_namespace_that_is_not_the_franchises_is_not_taken_over(
    cluster: Cluster, admin: Kube, unique: str
) -> None:
    name = f"taken-{unique}"
    ns = f"bobaku-fr-{name}"
    await admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    await cluster.apply("Franchise", name, {"displayName": "Squatted"})
    body = await cluster.wait_for("Franchise", name, "Ready", "False")
    assert cluster.condition(body, "Ready")["reason"] == "NamespaceTaken"
    assert cluster.condition(body, "NamespaceReady")["status"] == "False"
    assert cluster.condition(body, "DatabaseReady")["status"] == "Unknown"
    namespace = await admin.get("v1", "Namespace", ns)
    assert namespace is not None
    assert "bobaku.io/franchise" not in namespace["metadata"].get("labels", {})
    assert await admin.list("apps/v1", "Deployment", ns) == []


async def test_a_change_of_hq_configuration_reaches_every_franchise(
    cluster: Cluster, admin: Kube, unique: str
) -> None:
    name = f"hq-{unique}"
    ns = f"bobaku-fr-{name}"
    await cluster.apply("Franchise", name, {"displayName": "HQ follower"})
    await cluster.wait_for("Franchise", name, "Ready")
    hq = await admin.get("v1", "ConfigMap", "bobaku-hq-config", cluster.platform_ns)
    assert hq is not None
    original = hq["data"]["config.json"]
    changed = json.loads(original)
    changed["loyalty"]["pointsPer10000"] = 3
    hash_before = (await admin.get("apps/v1", "Deployment", "order", ns) or {})["spec"]["template"][
        "metadata"
    ]["annotations"]["bobaku.io/config-hash"]
    await admin.patch(
        "v1",
        "ConfigMap",
        "bobaku-hq-config",
        {"data": {"config.json": json.dumps(changed)}},
        namespace=cluster.platform_ns,
    )
    try:

        async def propagated() -> bool:
            cm = await admin.get("v1", "ConfigMap", "bobaku-franchise-config", ns)
            return json.loads((cm or {})["data"]["config.json"])["loyalty"]["pointsPer10000"] == 3

        await eventually(propagated, timeout=20)

        async def rolled() -> bool:  # the pods roll, to read the new configuration
            order = await admin.get("apps/v1", "Deployment", "order", ns)
            annotations = (order or {})["spec"]["template"]["metadata"]["annotations"]
            return bool(annotations["bobaku.io/config-hash"] != hash_before)

        await eventually(rolled, timeout=10)
    finally:
        await admin.patch(
            "v1",
            "ConfigMap",
            "bobaku-hq-config",
            {"data": {"config.json": original}},
            namespace=cluster.platform_ns,
        )


def test_the_routing_bucket_is_this_runs_own(cluster: Cluster) -> None:
    # The shared NATS serves other test runs and the gateway's own tests.
    assert cluster.routing_bucket != "bobaku_routing"


async def test_a_database_dropped_behind_the_operators_back_comes_back_indexed(
    cluster: Cluster, mongo: Mongo, unique: str
) -> None:
    name = f"redb-{unique}"
    await cluster.apply("Franchise", name, {"displayName": "Dropped"})
    body = await cluster.wait_for("Franchise", name, "Ready")
    assert body["status"]["databaseIndexes"]
    await mongo.drop_database(cluster.db_name(name))

    async def recreated() -> bool:
        if cluster.db_name(name) not in await mongo.list_database_names():
            return False
        return "outlets" in await mongo[cluster.db_name(name)].list_collection_names()

    await eventually(recreated, timeout=20)


async def test_an_operator_starting_on_an_empty_nats_publishes_every_routing_entry(
    cluster: Cluster, admin: Kube, routing: RoutingEntries, unique: str
) -> None:
    """NATS came back without its storage (the in-cluster server on an emptyDir restarted):
    until the entries are back, the gateway sends the franchises' orders to the pool."""
    name = f"restart-{unique}"
    await cluster.apply("Franchise", name, {"displayName": "Restarted"})
    await cluster.wait_for("Franchise", name, "Ready")
    published = await routing.get(f"franchise.{name}")
    assert published is not None

    settings = OperatorSettings(
        service_name="bobaku-operator", operator_namespace=cluster.platform_ns
    )
    bus = await EventBus.connect(settings, streams=())
    empty = RoutingEntries(bus, f"{cluster.routing_bucket}_empty")  # as NATS came back
    databases = Databases.from_settings(settings)
    events: list[str] = []
    reconciler = Reconciler(
        settings,
        admin,
        TenantDatabases(databases),
        empty,
        lambda body, **event: events.append(event["reason"]),
        MenuOutlets.from_settings(settings),
    )
    try:
        assert await empty.get(f"franchise.{name}") is None
        assert await reconciler.republish_routing() >= 1
        entry = await empty.get(f"franchise.{name}")
        assert entry is not None
        assert entry["upstreams"] == published["upstreams"]
        assert "RoutingPublished" in events
        assert await reconciler.republish_routing() == 0  # nothing missing any more
    finally:
        await bus.js.delete_key_value(empty.bucket)
        await reconciler.menu.close()
        await databases.close()
        await bus.close()
