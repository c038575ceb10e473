"""What a Franchise and its Outlets should yield: pure functions from spec to desired state.

Nothing here does I/O. Given a Franchise, its Outlets, HQ's configuration and the few
observations that matter (the replicas an autoscaler has chosen), :func:`plan_franchise`
returns every Kubernetes object, the database and the routing entry the franchise should
have. The reconciler (``reconcile.py``) applies the plan; applying it twice is a no-op.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from bobaku.kernel import tracing
from bobaku.kernel.db import IndexCatalog, IndexSpec, franchise_db_name
from bobaku.operator.conditions import Condition
from bobaku.operator.config import OperatorSettings
from bobaku.operator.model import (
    API_VERSION,
    COMPONENT,
    FRANCHISE,
    FRANCHISE_LABEL,
    MANAGED_BY,
    NAME,
    OPERATOR,
    OUTLET,
    OUTLET_LABEL,
    PART_OF,
    SERVICE_PORT,
    SILO_SERVICES,
    TIER_LABEL,
    Franchise,
    Outlet,
    Sizing,
)
from bobaku.services.menu.adapters import repository as menu_repository
from bobaku.services.payment.domain.fees import PROVIDERS
from bobaku.services.supply.adapters import repository as supply_repository

Manifest = dict[str, Any]

CONFIG_MAP = "bobaku-franchise-config"
# B105: the names of Secrets, not their values
DATABASE_SECRET = "bobaku-database"  # nosec B105
# The platform's service token (a role-service JWT) copied into the franchise namespace:
# the silo services call each other's /internal routes with it (order → supply and menu,
# supply → menu). Optional in the pod, so a platform without one still starts its silos.
SERVICE_TOKEN_SECRET = "bobaku-service-token"  # nosec B105
# The payment providers' callback keys, copied likewise for the silo payment service
# (finding 15 of docs/security/pentest-report.md). Optional in the pod: a silo without them
# keeps the documented defaults, which outside dev/test make it refuse to start.
PROVIDER_SECRET = "bobaku-provider-secrets"  # nosec B105
JWT_PUBLIC_KEY_FILE = "/etc/bobaku/jwt-public.pem"
NETWORK_POLICY = "bobaku-franchise-isolation"
RESOURCE_QUOTA = "bobaku-franchise-quota"
CONFIG_HASH_ANNOTATION = "bobaku.io/config-hash"
# Prometheus's kubernetes_sd convention, as the chart's pods carry them: each silo serves
# /metrics on its http port.
SCRAPE_ANNOTATIONS = {
    "prometheus.io/scrape": "true",
    "prometheus.io/port": str(SERVICE_PORT),
    "prometheus.io/path": "/metrics",
}
RUN_AS = 10001

# The franchise database's indexes, created with the database. Each is declared once,
# beside the code that writes its collection; the operator imports those declarations (no
# copies), so it creates exactly what the silo services create at start-up, up front, and a
# franchise's database exists, indexed, before its first order. A new silo service adds its
# declarations here (analytics declares none: its projections are in Redis, under a
# keyspace of the silo's own, Settings.instance_id).
SILO_INDEXES: tuple[IndexSpec, ...] = (
    *menu_repository.INDEXES.specs,
    *supply_repository.INDEXES.specs,
)
FRANCHISE_INDEXES = IndexCatalog.of(*SILO_INDEXES).only("franchise")


@dataclass(frozen=True)
class Environment:
    """The parts of the operator's settings that shape a plan (no credentials)."""

    platform_namespace: str = "bobaku-system"
    service_image: str = "ghcr.io/bobaku/bobaku-platform:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    cluster_domain: str = "cluster.local"
    db_prefix: str = "bobaku"
    nats_url: str = "nats://nats.bobaku-system.svc:4222"
    redis_url: str = "redis://redis.bobaku-system.svc:6379/0"
    # What the silo services need to reach the platform's brand-wide processes and to
    # verify tokens, as the operator itself was given them (plain variables, no secrets).
    platform_env: tuple[tuple[str, str], ...] = ()
    # The PEM public key that verifies access tokens (not a secret), if the operator has one.
    jwt_public_key: str | None = None
    # A HorizontalPodAutoscaler per silo service (off where no metrics server runs).
    autoscaling: bool = True
    # Each silo pod's CPU request instead of its tier's (0: the tier's).
    cpu_request_m: int = 0

    @classmethod
    def from_settings(cls, settings: OperatorSettings) -> Environment:
        key = settings.jwt_public_key_file
        return cls(
            platform_namespace=settings.operator_namespace,
            service_image=settings.operator_service_image,
            image_pull_policy=settings.operator_image_pull_policy,
            cluster_domain=settings.operator_cluster_domain,
            db_prefix=settings.mongodb_db_prefix,
            nats_url=settings.tenant_nats_url,
            redis_url=settings.tenant_redis_url,
            autoscaling=settings.operator_silo_autoscaling,
            cpu_request_m=settings.operator_silo_cpu_request_m,
            platform_env=(
                # The operator's own mode: a silo is a development mode only when the
                # platform is (its processes then accept the documented default secrets).
                ("ENVIRONMENT", settings.environment),
                # The platform's streams, subjects and buckets (kernel/names.py): a silo
                # reads and writes the same deployment's, whatever its DEPLOYMENT_ID.
                ("NATS_DEPLOYMENT_ID", settings.nats_names.deployment_id),
                ("CUSTOMER_URL", settings.customer_url),
                ("PROVIDER_SIM_URL", settings.provider_sim_url),
                ("HUB_URL", settings.hub_url),
                # Overridden by the silo's own analytics (silo_urls), which has the outlet
                # detail supply's reorder suggestions forecast from.
                ("ANALYTICS_URL", settings.analytics_url),
                ("ANALYTICS_HUB_PUBLIC_WS_URL", settings.operator_analytics_hub_public_ws_url),
                ("JWT_KEY_ID", settings.jwt_key_id),
                ("JWT_ISSUER", settings.jwt_issuer),
                ("JWT_AUDIENCE", settings.jwt_audience),
                *tracing.propagated_env(),
            ),
            jwt_public_key=key.read_text() if key is not None and key.is_file() else None,
        )


@dataclass(frozen=True)
class DatabasePlan:
    name: str
    username: str
    indexes: IndexCatalog

    @property
    def index_digest(self) -> str:
        """Identifies the index catalog, so a status can say which one was created."""
        specs = [(s.collection, list(s.keys), s.unique, s.name) for s in self.indexes.specs]
        return config_hash(specs)


@dataclass(frozen=True)
class DatabaseAccess:
    """How the silo services reach their database (what the Secret carries)."""

    url: str
    database: str
    username: str | None
    password: str | None


@dataclass(frozen=True)
class FranchisePlan:
    namespace: Manifest
    # Inside the namespace: its configuration, NetworkPolicy and ResourceQuota ...
    namespace_objects: list[Manifest]
    # ... the silo services (Deployment, Service, HPA, PDB each) and the outlets' maps.
    # The database Secret is not here: it needs the outcome of creating the user.
    workloads: list[Manifest]
    database: DatabasePlan
    outlets: list[str]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def objects(self) -> list[Manifest]:
        return [*self.namespace_objects, *self.workloads]


# ---------------------------------------------------------------------------- naming ---


def namespace_name(franchise_name: str) -> str:
    return f"bobaku-fr-{franchise_name}"


def outlet_config_map_name(outlet_name: str) -> str:
    return f"outlet-{outlet_name}"


def franchise_labels(franchise: Franchise, **extra: str) -> dict[str, str]:
    return {
        MANAGED_BY: OPERATOR,
        PART_OF: "bobaku",
        FRANCHISE_LABEL: franchise.name,
        **extra,
    }


def owner_reference(kind: str, name: str, uid: str) -> dict[str, Any]:
    # Not a controller reference: the operator's finalizer, not the garbage collector,
    # decides what happens to the namespace and the data when a Franchise goes.
    return {"apiVersion": API_VERSION, "kind": kind, "name": name, "uid": uid}


def _metadata(
    franchise: Franchise, name: str, labels: Mapping[str, str], namespaced: bool = True
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespaced:
        meta["namespace"] = namespace_name(franchise.name)
    if franchise.uid:
        meta["ownerReferences"] = [owner_reference(FRANCHISE, franchise.name, franchise.uid)]
    return meta


# ---------------------------------------------------------------------------- config ---


def merge_config(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge configuration layers, later ones winning (HQ → franchise → outlet).

    Mappings merge key by key; any other value (lists included) replaces the earlier one.
    A ``null`` in a later layer removes the key.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if value is None:
                merged.pop(key, None)
            elif isinstance(value, Mapping) and isinstance(merged.get(key), dict):
                merged[key] = merge_config(merged[key], value)
            else:
                merged[key] = copy.deepcopy(dict(value) if isinstance(value, Mapping) else value)
    return merged


def franchise_config(franchise: Franchise, hq: Mapping[str, Any]) -> dict[str, Any]:
    identity = {
        "franchise": {
            "id": franchise.name,
            "displayName": franchise.spec.display_name,
            "tier": franchise.spec.tier.value,
        }
    }
    return merge_config(hq, franchise.spec.config, identity)


def outlet_config(franchise: Franchise, outlet: Outlet, hq: Mapping[str, Any]) -> dict[str, Any]:
    spec = outlet.spec
    identity: dict[str, Any] = {
        "outlet": {
            "id": outlet.name,
            "displayName": spec.display_name,
            "address": spec.address,
            "city": spec.city,
            "phone": spec.phone,
            "openingHours": spec.opening_hours.model_dump(by_alias=True, mode="json"),
            "stations": spec.stations,
        }
    }
    return merge_config(franchise_config(franchise, hq), spec.config, identity)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def config_hash(*documents: Any) -> str:
    digest = hashlib.sha256()
    for document in documents:
        digest.update(canonical_json(document).encode())
    return digest.hexdigest()[:16]


# ------------------------------------------------------------------------- namespace ---


def plan_namespace(franchise: Franchise) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _metadata(
            franchise,
            namespace_name(franchise.name),
            franchise_labels(franchise, **{TIER_LABEL: franchise.spec.tier.value}),
            namespaced=False,
        ),
    }


def silo_urls(franchise: Franchise, env: Environment) -> dict[str, str]:
    """Each silo service's address, as the others in the namespace call it."""
    ns = namespace_name(franchise.name)
    urls = {
        f"{service.upper()}_URL": f"http://{service}.{ns}.svc.{env.cluster_domain}:{SERVICE_PORT}"
        for service in SILO_SERVICES
    }
    if "PAYMENT_URL" in urls:
        urls["PAYMENT_WEBHOOK_BASE_URL"] = urls["PAYMENT_URL"]
    return urls


def plan_config_map(franchise: Franchise, config: Mapping[str, Any], env: Environment) -> Manifest:
    extra: dict[str, str] = dict(env.platform_env) | silo_urls(franchise, env)
    if env.jwt_public_key:
        extra |= {"jwt-public.pem": env.jwt_public_key, "JWT_PUBLIC_KEY_FILE": JWT_PUBLIC_KEY_FILE}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(
            franchise, CONFIG_MAP, franchise_labels(franchise, **{COMPONENT: "config"})
        ),
        "data": extra
        | {
            "config.json": canonical_json(config),
            # Plain variables for the silo services' environment (envFrom).
            "FRANCHISE_ID": franchise.name,
            "FRANCHISE_TIER": franchise.spec.tier.value,
            "DEPLOYMENT_MODE": "silo",
            "MONGODB_DB_PREFIX": env.db_prefix,
            "NATS_URL": env.nats_url,
            "REDIS_URL": env.redis_url,
            "BOBAKU_CONFIG_FILE": "/etc/bobaku/config.json",
        },
    }


def plan_outlet_config_map(franchise: Franchise, outlet: Outlet, hq: Mapping[str, Any]) -> Manifest:
    config = outlet_config(franchise, outlet, hq)
    meta = _metadata(
        franchise,
        outlet_config_map_name(outlet.name),
        franchise_labels(franchise, **{COMPONENT: "outlet-config", OUTLET_LABEL: outlet.name}),
    )
    if outlet.uid:
        meta["ownerReferences"].append(owner_reference(OUTLET, outlet.name, outlet.uid))
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {"config.json": canonical_json(config)},
    }


def plan_network_policy(franchise: Franchise, env: Environment) -> Manifest:
    """Ingress only from the platform namespace and from the franchise's own pods."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(
            franchise, NETWORK_POLICY, franchise_labels(franchise, **{COMPONENT: "isolation"})
        ),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {
                                    "kubernetes.io/metadata.name": env.platform_namespace
                                }
                            }
                        },
                        {"podSelector": {}},
                    ]
                }
            ],
        },
    }


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti|)$")
_SCALE = {"m": Fraction(1, 1000), "": Fraction(1), "k": Fraction(10**3), "M": Fraction(10**6)}
_SCALE |= {"G": Fraction(10**9), "T": Fraction(10**12), "Ki": Fraction(2**10)}
_SCALE |= {"Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40)}


def quantity(text: str) -> Fraction | None:
    """A Kubernetes quantity (``1500m``, ``2Gi``, ``12``) as a number; None if not one."""
    match = _QUANTITY.match(str(text).strip())
    return Fraction(match.group(1)) * _SCALE[match.group(2)] if match else None


def rolled_out(deployment: Mapping[str, Any], tier: str) -> bool:
    """Whether every pod of the Deployment runs its current template, of ``tier``."""
    spec = deployment.get("spec") or {}
    template = (spec.get("template") or {}).get("metadata") or {}
    if (template.get("labels") or {}).get(TIER_LABEL) != tier:
        return False  # the plan is about to change its pods
    status = deployment.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    return (
        int(status.get("observedGeneration", 0)) >= int(deployment["metadata"].get("generation", 0))
        and int(status.get("updatedReplicas", 0)) == replicas
        and int(status.get("replicas", 0)) == replicas
    )


def plan_resource_quota(franchise: Franchise, floor: Mapping[str, str] | None = None) -> Manifest:
    """The tier's quota; while a rollout runs, never below ``floor`` (the quota in force).

    Lowering the quota first would deadlock a move to a lower tier: the old pods hold more
    than the new quota allows, so not one new pod is admitted and the old ones, which wait
    for new ones to be ready (maxUnavailable 0), never go. The quota shrinks once every
    silo Deployment has rolled out (:func:`rolled_out`)."""
    hard = franchise.sizing.quota(SILO_SERVICES)
    for key, held in (floor or {}).items():
        wanted, kept = quantity(hard.get(key, "")), quantity(held)
        if wanted is not None and kept is not None and kept > wanted:
            hard[key] = str(held)
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _metadata(
            franchise, RESOURCE_QUOTA, franchise_labels(franchise, **{COMPONENT: "quota"})
        ),
        "spec": {"hard": hard},
    }


# --------------------------------------------------------------------------- database ---


def plan_database(franchise: Franchise, env: Environment) -> DatabasePlan:
    name = franchise_db_name(env.db_prefix, franchise.name)
    return DatabasePlan(name=name, username=name, indexes=FRANCHISE_INDEXES)


def tenant_connection_string(
    base_url: str, database: str, username: str | None, password: str | None
) -> str:
    """``base_url``'s hosts and options, with the franchise's user (or none) and database.

    The operator's own credentials in ``base_url`` are never passed on.
    """
    parts = urlsplit(base_url)
    hosts = parts.netloc.rsplit("@", 1)[-1]
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "authSource"]
    if username:
        hosts = f"{quote(username, safe='')}:{quote(password or '', safe='')}@{hosts}"
        query.append(("authSource", database))
    return urlunsplit((parts.scheme, hosts, f"/{database}", urlencode(query), ""))


def _secret(franchise: Franchise, name: str, component: str, values: Mapping[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(
            franchise, name, franchise_labels(franchise, **{COMPONENT: component})
        ),
        "type": "Opaque",
        # `data`, not `stringData`: server-side apply tracks `data` field by field.
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


def plan_database_secret(franchise: Franchise, access: DatabaseAccess) -> Manifest:
    values = {
        "MONGODB_URL": access.url,
        "MONGODB_DATABASE": access.database,
        "MONGODB_USERNAME": access.username or "",
        "MONGODB_PASSWORD": access.password or "",
    }
    return _secret(franchise, DATABASE_SECRET, "database", values)


def plan_service_token_secret(franchise: Franchise, token: str) -> Manifest:
    return _secret(franchise, SERVICE_TOKEN_SECRET, "auth", {"SERVICE_TOKEN": token})


def plan_provider_secret(franchise: Franchise, keys: Mapping[str, str]) -> Manifest:
    return _secret(franchise, PROVIDER_SECRET, "payment", dict(sorted(keys.items())))


def _provider_secret_env() -> list[dict[str, Any]]:
    return [
        {
            "name": f"PROVIDER_SECRET_{provider.upper()}",
            "valueFrom": {
                "secretKeyRef": {
                    "name": PROVIDER_SECRET,
                    "key": f"PROVIDER_SECRET_{provider.upper()}",
                    "optional": True,
                }
            },
        }
        for provider in PROVIDERS
    ]


# ------------------------------------------------------------------------------ silo ---


def desired_replicas(sizing: Sizing, observed: int | None) -> int:
    """The tier's floor on creation; afterwards what the autoscaler chose, within the tier.

    Keeping the observed count (when it is inside the tier's range) means the operator and
    the HorizontalPodAutoscaler never fight; a tier change moves it into the new range.
    """
    if observed is None:
        return sizing.replicas
    return max(sizing.replicas, min(observed, sizing.max_replicas))


def _resources(sizing: Sizing) -> dict[str, Any]:
    return {
        "requests": {"cpu": f"{sizing.cpu_request_m}m", "memory": f"{sizing.memory_request_mi}Mi"},
        "limits": {"cpu": f"{sizing.cpu_limit_m}m", "memory": f"{sizing.memory_limit_mi}Mi"},
    }


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def plan_deployment(
    franchise: Franchise, service: str, env: Environment, replicas: int, config_digest: str
) -> Manifest:
    sizing = franchise.sizing
    selector = {NAME: service, FRANCHISE_LABEL: franchise.name}
    labels = franchise_labels(
        franchise, **{NAME: service, COMPONENT: "silo-service", TIER_LABEL: franchise.spec.tier}
    )
    container = {
        "name": service,
        "image": env.service_image,
        "imagePullPolicy": env.image_pull_policy,
        "command": ["python", "-m", f"bobaku.services.{service}"],
        "ports": [{"name": "http", "containerPort": SERVICE_PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": CONFIG_MAP}}],
        "env": [
            {"name": "SERVICE_NAME", "value": service},
            # B104: inside a pod: the NetworkPolicy, not the bind address, limits who connects
            {"name": "HTTP_HOST", "value": "0.0.0.0"},  # nosec B104
            {"name": "HTTP_PORT", "value": str(SERVICE_PORT)},
            {
                "name": "MONGODB_URL",
                "valueFrom": {"secretKeyRef": {"name": DATABASE_SECRET, "key": "MONGODB_URL"}},
            },
            {
                "name": "SERVICE_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": SERVICE_TOKEN_SECRET,
                        "key": "SERVICE_TOKEN",
                        "optional": True,
                    }
                },
            },
            *(_provider_secret_env() if service == "payment" else []),
        ],
        "resources": _resources(
            replace(sizing.of(service), cpu_request_m=env.cpu_request_m)
            if env.cpu_request_m
            else sizing.of(service)
        ),
        # Up to 3 min to start: when many pods start at once on a small node (ten franchises
        # on 2 cores) each one's imports take far longer than alone, and a 60 s budget had
        # the kubelet kill pods mid-start over and over. Liveness begins once started.
        "startupProbe": _probe("/healthz", 2, 90),
        "livenessProbe": _probe("/healthz", 10, 3),
        "readinessProbe": _probe("/readyz", 5, 3),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/bobaku", "readOnly": True},
            # B108: a pod-private emptyDir mounted on /tmp (read-only root filesystem)
            {"name": "tmp", "mountPath": "/tmp"},  # nosec B108
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(franchise, service, labels),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": labels,
                    # A configuration change rolls the pods, which read it at start-up.
                    "annotations": {
                        CONFIG_HASH_ANNOTATION: config_digest,
                        # Scraped like the chart's own pods (monitoring.podAnnotations).
                        **SCRAPE_ANNOTATIONS,
                    },
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUN_AS,
                        "runAsGroup": RUN_AS,
                        "fsGroup": RUN_AS,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector},
                        }
                    ],
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "config",
                            "configMap": {
                                "name": CONFIG_MAP,
                                "items": [{"key": "config.json", "path": "config.json"}]
                                + (
                                    [{"key": "jwt-public.pem", "path": "jwt-public.pem"}]
                                    if env.jwt_public_key
                                    else []
                                ),
                            },
                        },
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    }


def plan_service(franchise: Franchise, service: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(
            franchise, service, franchise_labels(franchise, **{NAME: service, COMPONENT: "silo"})
        ),
        "spec": {
            "type": "ClusterIP",
            "selector": {NAME: service, FRANCHISE_LABEL: franchise.name},
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def plan_autoscaler(franchise: Franchise, service: str) -> Manifest:
    sizing = franchise.sizing
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(
            franchise, service, franchise_labels(franchise, **{NAME: service, COMPONENT: "silo"})
        ),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service},
            "minReplicas": sizing.replicas,
            "maxReplicas": sizing.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }


def plan_disruption_budget(franchise: Franchise, service: str) -> Manifest:
    sizing = franchise.sizing
    budget: dict[str, Any] = (
        {"minAvailable": sizing.min_available} if sizing.min_available else {"maxUnavailable": 1}
    )
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(
            franchise, service, franchise_labels(franchise, **{NAME: service, COMPONENT: "silo"})
        ),
        "spec": {"selector": {"matchLabels": {NAME: service, FRANCHISE_LABEL: franchise.name}}}
        | budget,
    }


# ----------------------------------------------------------------------------- whole ---


def registered_outlets(franchise: Franchise, outlets: Iterable[Outlet]) -> list[Outlet]:
    """The Outlets that belong to ``franchise`` and are not being deleted, by name."""
    return sorted(
        (o for o in outlets if o.spec.franchise_ref == franchise.name and not o.deleting),
        key=lambda o: o.name,
    )


def plan_franchise(
    franchise: Franchise,
    outlets: Sequence[Outlet],
    hq: Mapping[str, Any],
    env: Environment,
    observed_replicas: Mapping[str, int] | None = None,
    quota_floor: Mapping[str, str] | None = None,
) -> FranchisePlan:
    """``quota_floor``: the quota in force while the silo Deployments roll out (see
    :func:`plan_resource_quota`), else None."""
    observed_replicas = observed_replicas or {}
    mine = registered_outlets(franchise, outlets)
    config = franchise_config(franchise, hq)
    digest = config_hash(config)
    workloads: list[Manifest] = []
    for service in SILO_SERVICES:
        replicas = desired_replicas(franchise.sizing, observed_replicas.get(service))
        workloads += [
            plan_deployment(franchise, service, env, replicas, digest),
            plan_service(franchise, service),
            *([plan_autoscaler(franchise, service)] if env.autoscaling else []),
            plan_disruption_budget(franchise, service),
        ]
    workloads += [plan_outlet_config_map(franchise, o, hq) for o in mine]
    return FranchisePlan(
        namespace=plan_namespace(franchise),
        namespace_objects=[
            plan_config_map(franchise, config, env),
            plan_network_policy(franchise, env),
            plan_resource_quota(franchise, quota_floor),
        ],
        workloads=workloads,
        database=plan_database(franchise, env),
        outlets=[o.name for o in mine],
        config=config,
    )


def availability(deployments: Sequence[Mapping[str, Any]]) -> tuple[Condition, dict[str, Any]]:
    """``Available`` from the silo Deployments' status, and a per-service summary.

    Informational: ``Ready`` says the operator's work is done; ``Available`` says the pods
    serve (it needs a kubelet, which the test control plane does not have).
    """
    workloads: dict[str, Any] = {}
    for d in deployments:
        name = d["metadata"]["name"]
        if name not in SILO_SERVICES:
            continue
        st = d.get("status") or {}
        workloads[name] = {
            "replicas": int((d.get("spec") or {}).get("replicas", 0)),
            "availableReplicas": int(st.get("availableReplicas", 0)),
        }
    missing = [s for s in SILO_SERVICES if s not in workloads]
    short = [
        f"{s} {w['availableReplicas']}/{w['replicas']}"
        for s, w in sorted(workloads.items())
        if w["availableReplicas"] < max(w["replicas"], 1)
    ]
    if missing:
        condition = Condition(
            "Available", "Unknown", "NotObserved", "not deployed yet: " + ", ".join(missing)
        )
    elif short:
        condition = Condition(
            "Available", "False", "ReplicasUnavailable", "available/desired: " + ", ".join(short)
        )
    else:
        condition = Condition("Available", "True", "ReplicasAvailable", "every replica serves")
    return condition, workloads


def routing_entry(
    franchise: Franchise, outlets: Sequence[str], env: Environment, updated_at: str
) -> dict[str, Any]:
    """The gateway's routing entry for a silo franchise (key ``franchise.<id>``)."""
    ns = namespace_name(franchise.name)
    return {
        "franchise_id": franchise.name,
        "namespace": ns,
        "mode": "silo",
        "tier": franchise.spec.tier.value,
        "upstreams": {
            service: f"http://{service}.{ns}.svc.{env.cluster_domain}:{SERVICE_PORT}"
            for service in SILO_SERVICES
        },
        "outlets": sorted(outlets),
        "updated_at": updated_at,
    }


def object_key(manifest: Mapping[str, Any]) -> tuple[str, str, str, str]:
    meta = manifest["metadata"]
    return (manifest["apiVersion"], manifest["kind"], meta.get("namespace", ""), meta["name"])
