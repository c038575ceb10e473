"""The reconcilers: observe the cluster, plan (pure, ``plan.py``), apply, report.

Every entry point starts from the object as the API server has it now (never from what a
previous run remembered), so a reconcile can run twice, run late, or be interrupted and
run again with the same result. What the operator knows about a franchise lives in the
Franchise's status and in the objects themselves, never in this process.

Each step posts a Kubernetes Event when it changed something, so ``kubectl describe`` tells
the story of a franchise: namespace created, database created, services applied, routing
published, ready; and later, drift corrected or a tier rolled out.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bobaku.kernel.routing_table import RoutingEntries, routing_key
from bobaku.operator.conditions import Condition, find, is_true, merge_conditions, now_iso, ready
from bobaku.operator.config import OperatorSettings
from bobaku.operator.database import TenantDatabases
from bobaku.operator.kube import Conflict, Kube, KubeError, Manifest, NotFound
from bobaku.operator.model import (
    API_VERSION,
    FRANCHISE,
    FRANCHISE_LABEL,
    MANAGED_BY,
    OPERATOR,
    OUTLET,
    PAUSED_ANNOTATION,
    SILO_SERVICES,
    Franchise,
    Outlet,
    Retention,
)
from bobaku.operator.outlets import MenuOutlets
from bobaku.operator.plan import (
    DATABASE_SECRET,
    DatabaseAccess,
    Environment,
    FranchisePlan,
    availability,
    namespace_name,
    object_key,
    outlet_config_map_name,
    plan_database,
    plan_database_secret,
    plan_franchise,
    plan_outlet_config_map,
    plan_provider_secret,
    plan_service_token_secret,
    registered_outlets,
    rolled_out,
    routing_entry,
    tenant_connection_string,
)

log = logging.getLogger(__name__)

# Kinds the operator creates inside a franchise namespace, listed by label to observe them.
OBSERVED_KINDS = (
    ("v1", "ConfigMap"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("v1", "ResourceQuota"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
)
FRANCHISE_STEPS = ("NamespaceReady", "DatabaseReady", "ServicesReady", "RoutingReady")
OUTLET_STEPS = ("FranchiseFound", "ConfigReady", "Registered")
CAS_ATTEMPTS = 10

# HQ's configuration when the platform namespace has none (the chart installs one).
DEFAULT_HQ_CONFIG: dict[str, Any] = {
    "currency": "IDR",
    "timezone": "Asia/Jakarta",
    "pricing": {"taxRateBp": 1100, "serviceChargeBp": 0, "priceOverrides": {}},
    "ordering": {"acceptingOrders": True, "maxItemsPerOrder": 20},
    "menu": {"unavailable": []},
    "loyalty": {"pointsPer10000": 1},
}


class EventSink(Protocol):
    def __call__(
        self, body: Mapping[str, Any], *, type: str, reason: str, message: str
    ) -> None: ...


class RetryLater(Exception):
    """Not done yet; run again after ``delay`` seconds."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class StepFailed(Exception):
    def __init__(self, condition: Condition) -> None:
        super().__init__(f"{condition.type}: {condition.reason}: {condition.message}")
        self.condition = condition


@dataclass
class Applied:
    """What applying a set of objects did."""

    changed: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.pruned)


def _ref(manifest: Mapping[str, Any]) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


def _rv(manifest: Mapping[str, Any] | None) -> str | None:
    return None if manifest is None else manifest.get("metadata", {}).get("resourceVersion")


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:1000]


class Reconciler:
    def __init__(
        self,
        settings: OperatorSettings,
        kube: Kube,
        tenants: TenantDatabases,
        routing: RoutingEntries,
        post_event: EventSink,
        menu: MenuOutlets,
    ) -> None:
        self.settings = settings
        self.env = Environment.from_settings(settings)
        self.kube = kube
        self.tenants = tenants
        self.routing = routing
        self.post_event = post_event
        self.menu = menu

    # ------------------------------------------------------------------- observation ---

    async def hq_config(self) -> dict[str, Any]:
        cm = await self.kube.get(
            "v1", "ConfigMap", self.settings.operator_hq_config_map, self.env.platform_namespace
        )
        if cm is None or "config.json" not in (cm.get("data") or {}):
            return dict(DEFAULT_HQ_CONFIG)
        value = json.loads(cm["data"]["config.json"])
        if not isinstance(value, dict):
            raise ValueError("HQ configuration (config.json) must be a JSON object")
        return value

    async def outlets(self) -> list[Outlet]:
        return [Outlet.from_body(b) for b in await self.kube.list(API_VERSION, OUTLET)]

    async def observe(self, franchise: Franchise) -> dict[tuple[str, str, str, str], Manifest]:
        ns = namespace_name(franchise.name)
        labels = {MANAGED_BY: OPERATOR, FRANCHISE_LABEL: franchise.name}
        listings = await asyncio.gather(
            *(self.kube.list(av, kind, ns, labels) for av, kind in OBSERVED_KINDS)
        )
        return {object_key(obj): obj for listing in listings for obj in listing}

    def _event(
        self, body: Mapping[str, Any], reason: str, message: str, warn: bool = False
    ) -> None:
        self.post_event(body, type="Warning" if warn else "Normal", reason=reason, message=message)
        log.info(
            "%s %s: %s: %s",
            body.get("kind"),
            body.get("metadata", {}).get("name"),
            reason,
            message,
            extra={"reason": reason},
        )

    async def _write_status(
        self, kind: str, name: str, status: Mapping[str, Any], resource_version: str | None = None
    ) -> None:
        patch: dict[str, Any] = {"status": dict(status)}
        if resource_version is not None:
            patch["metadata"] = {"resourceVersion": resource_version}
        with contextlib.suppress(NotFound):  # deleted meanwhile: nothing to report on
            await self.kube.patch(API_VERSION, kind, name, patch, subresource="status")

    async def _apply(
        self, manifests: Sequence[Manifest], observed: Mapping[Any, Manifest]
    ) -> tuple[Applied, list[Manifest]]:
        results = await asyncio.gather(*(self.kube.apply(m) for m in manifests))
        applied = Applied()
        for manifest, result in zip(manifests, results, strict=True):
            if _rv(observed.get(object_key(manifest))) != _rv(result):
                applied.changed.append(_ref(manifest))
        return applied, list(results)

    # ---------------------------------------------------------------------- franchise ---

    async def reconcile_franchise(self, name: str, trigger: str = "change") -> None:
        """Bring everything a Franchise yields to its spec and report it in its status.

        ``trigger`` is why we run: ``change`` (created, edited, operator start),
        ``resync`` (the periodic pass) or ``drift`` (one of its objects was deleted).
        Raises :class:`RetryLater` when a step failed.
        """
        body = await self.kube.get(API_VERSION, FRANCHISE, name)
        if body is None:
            return
        franchise = Franchise.from_body(body)
        if franchise.deleting:
            return
        status: dict[str, Any] = dict(body.get("status") or {})
        previous = status.get("conditions") or []
        if franchise.paused:
            await self._pause(body, franchise.generation, previous, FRANCHISE)
            return

        hq = await self.hq_config()
        outlets = await self.outlets()
        observed = await self.observe(franchise)
        replicas = {
            obj["metadata"]["name"]: int(obj.get("spec", {}).get("replicas", 0))
            for key, obj in observed.items()
            if key[1] == "Deployment"
        }
        deployments = [o for k, o in observed.items() if k[1] == "Deployment"]
        quota = next((o for k, o in observed.items() if k[1] == "ResourceQuota"), None)
        rolling = any(not rolled_out(d, franchise.spec.tier.value) for d in deployments)
        floor = (quota.get("spec") or {}).get("hard") if rolling and quota else None
        plan = plan_franchise(franchise, outlets, hq, self.env, replicas, floor)

        done: list[Condition] = []
        changes: list[str] = []
        failure: StepFailed | None = None
        steps: list[Callable[[], Awaitable[tuple[Condition, list[str]]]]] = [
            lambda: self._namespace_step(body, franchise, plan, observed),
            lambda: self._database_step(body, franchise, plan, status.get("databaseIndexes")),
            lambda: self._services_step(body, franchise, plan, observed),
            lambda: self._routing_step(body, franchise),
        ]
        for step in steps:
            try:
                condition, changed = await step()
            except StepFailed as exc:
                failure = exc
                done.append(exc.condition)
                break
            done.append(condition)
            changes += changed
        for missing in FRANCHISE_STEPS[len(done) :]:
            done.append(Condition(missing, "Unknown", "Blocked", f"waits for {done[-1].type}"))

        sizing = franchise.sizing
        ready_condition = ready(
            done,
            ready_message=(
                f"tier {franchise.spec.tier}: {len(SILO_SERVICES)} silo services "
                f"({sizing.replicas}-{sizing.max_replicas} replicas each) in "
                f"{namespace_name(franchise.name)}, database {plan.database.name}"
            ),
        )
        available, workloads = availability(
            [o for k, o in observed.items() if k[1] == "Deployment"]
        )
        paused = Condition("Paused", "False", "Reconciling", "changes to the spec are applied")
        conditions = merge_conditions(
            previous, [ready_condition, *done, available, paused], franchise.generation, now_iso()
        )
        new_status: dict[str, Any] = {
            "conditions": conditions,
            "namespace": namespace_name(franchise.name),
            "database": plan.database.name,
            "tier": franchise.spec.tier.value,
            "workloads": workloads,
        }
        if done[1].status == "True":  # DatabaseReady: its indexes exist
            new_status["databaseIndexes"] = plan.database.index_digest
        if failure is None:
            new_status["observedGeneration"] = franchise.generation
        if any(status.get(k) != v for k, v in new_status.items()):
            await self._write_status(FRANCHISE, franchise.name, new_status)

        was = find(previous, "Ready")
        was_ready = was is not None and was.get("status") == "True"
        was_paused = (find(previous, "Paused") or {}).get("status") == "True"
        if was_paused:
            self._event(body, "Resumed", "the pause annotation is gone; reconciling again")
        if changes and trigger in ("resync", "drift"):
            self._event(body, "DriftCorrected", "restored: " + ", ".join(changes[:20]), warn=True)
        if ready_condition.status == "True" and not was_ready:
            self._event(body, "Ready", ready_condition.message)
        elif ready_condition.status != "True" and was_ready:
            self._event(body, "NotReady", ready_condition.message, warn=True)
        if failure is not None:
            # Once per distinct failure, not on every retry.
            if (was or {}).get("message") != ready_condition.message or was_ready:
                self._event(body, "ReconcileFailed", str(failure), warn=True)
            raise RetryLater(str(failure), self.settings.operator_retry_s)

    async def _pause(
        self, body: Mapping[str, Any], generation: int, previous: list[Any], kind: str
    ) -> None:
        if (find(previous, "Paused") or {}).get("status") == "True":
            return
        message = (
            f"reconciling is paused by the {PAUSED_ANNOTATION} annotation; remove it to resume"
        )
        conditions = merge_conditions(
            previous,
            [Condition("Paused", "True", "PausedByAnnotation", message)],
            generation,
            now_iso(),
        )
        await self._write_status(kind, body["metadata"]["name"], {"conditions": conditions})
        self._event(body, "Paused", message)

    async def _namespace_step(
        self,
        body: Mapping[str, Any],
        franchise: Franchise,
        plan: FranchisePlan,
        observed: Mapping[Any, Manifest],
    ) -> tuple[Condition, list[str]]:
        ns = plan.namespace["metadata"]["name"]
        try:
            existing = await self.kube.get("v1", "Namespace", ns)
            labels = (existing or {}).get("metadata", {}).get("labels") or {}
            if existing is not None and labels.get(FRANCHISE_LABEL) != franchise.name:
                raise StepFailed(
                    Condition(
                        "NamespaceReady",
                        "False",
                        "NamespaceTaken",
                        f"namespace {ns} exists and does not belong to this franchise "
                        f"(no {FRANCHISE_LABEL}={franchise.name} label); the operator will "
                        "not take it over",
                    )
                )
            if existing is not None and existing.get("metadata", {}).get("deletionTimestamp"):
                raise StepFailed(
                    Condition(
                        "NamespaceReady",
                        "False",
                        "NamespaceTerminating",
                        f"namespace {ns} is still being deleted (a previous Franchise "
                        "of this name); waiting for it to go",
                    )
                )
            result = await self.kube.apply(plan.namespace)
            changed = (
                [] if existing is not None and _rv(existing) == _rv(result) else [_ref(result)]
            )
            if existing is None:
                self._event(body, "NamespaceCreated", f"namespace {ns} created")
            # The namespace-wide objects: configuration, isolation, quota.
            applied, _ = await self._apply(plan.namespace_objects, observed)
        except StepFailed:
            raise
        except (TimeoutError, KubeError, OSError) as exc:
            raise StepFailed(
                Condition("NamespaceReady", "False", "ApplyFailed", _short(exc))
            ) from exc
        if applied:
            self._event(body, "NamespaceConfigured", "applied: " + ", ".join(applied.changed))
        return (
            Condition(
                "NamespaceReady",
                "True",
                "Applied",
                f"namespace {ns} with its configuration, NetworkPolicy (platform namespace "
                f"{self.env.platform_namespace} and itself only) and ResourceQuota "
                f"(tier {franchise.spec.tier})",
            ),
            changed + applied.changed,
        )

    async def _database_step(
        self,
        body: Mapping[str, Any],
        franchise: Franchise,
        plan: FranchisePlan,
        indexed: str | None,
    ) -> tuple[Condition, list[str]]:
        ns = plan.namespace["metadata"]["name"]
        db = plan.database
        try:
            secret = await self.kube.get("v1", "Secret", DATABASE_SECRET, ns)
            stored = base64.b64decode((secret or {}).get("data", {}).get("MONGODB_PASSWORD", ""))
            password = stored.decode() or secrets.token_urlsafe(24)
            outcome = await self.tenants.ensure(db, password, indexed)
            access = DatabaseAccess(
                url=tenant_connection_string(
                    self.settings.tenant_mongodb_url,
                    db.name,
                    db.username if outcome.user else None,
                    password if outcome.user else None,
                ),
                database=db.name,
                username=db.username if outcome.user else None,
                password=password if outcome.user else None,
            )
            result = await self.kube.apply(plan_database_secret(franchise, access))
            if self.settings.service_token:
                await self.kube.apply(
                    plan_service_token_secret(franchise, self.settings.service_token)
                )
            if provider_keys := self.settings.provider_secrets:
                await self.kube.apply(plan_provider_secret(franchise, provider_keys))
        except KubeError as exc:
            raise StepFailed(
                Condition("DatabaseReady", "False", "SecretFailed", _short(exc))
            ) from exc
        except Exception as exc:  # the database server: connection refused, auth, timeout…
            raise StepFailed(
                Condition("DatabaseReady", "False", "DatabaseUnavailable", _short(exc))
            ) from exc
        indexes = len(db.indexes.specs)
        if outcome.created:
            self._event(
                body,
                "DatabaseCreated",
                f"database {db.name} created with {indexes} indexes; {outcome.user_note}",
            )
        changed = [] if _rv(secret) == _rv(result) else [_ref(result)]
        if changed and not outcome.created:
            self._event(body, "DatabaseSecretWritten", f"Secret {ns}/{DATABASE_SECRET} written")
        return (
            Condition(
                "DatabaseReady",
                "True",
                "UserCreated" if outcome.user else "NoUserSupport",
                f"database {db.name} with {indexes} indexes; {outcome.user_note}; "
                f"connection string in Secret {DATABASE_SECRET}",
            ),
            changed,
        )

    async def _services_step(
        self,
        body: Mapping[str, Any],
        franchise: Franchise,
        plan: FranchisePlan,
        observed: Mapping[Any, Manifest],
    ) -> tuple[Condition, list[str]]:
        try:
            applied, _ = await self._apply(plan.workloads, observed)
            wanted = {object_key(m) for m in plan.objects}
            for key, obj in observed.items():
                if key not in wanted:
                    api_version, kind, namespace, name = key
                    await self.kube.delete(api_version, kind, name, namespace)
                    applied.pruned.append(_ref(obj))
        except (TimeoutError, KubeError, OSError) as exc:
            raise StepFailed(
                Condition("ServicesReady", "False", "ApplyFailed", _short(exc))
            ) from exc
        sizing = franchise.sizing
        if applied.changed:
            self._event(
                body,
                "ServicesApplied",
                f"tier {franchise.spec.tier} ({sizing.replicas}-{sizing.max_replicas} replicas, "
                f"{sizing.cpu_request_m}m/{sizing.memory_request_mi}Mi requested): "
                + ", ".join(applied.changed),
            )
        if applied.pruned:
            self._event(body, "ObjectsPruned", "deleted: " + ", ".join(applied.pruned))
        return (
            Condition(
                "ServicesReady",
                "True",
                "Applied",
                f"{', '.join(SILO_SERVICES)}: Deployment, Service, HorizontalPodAutoscaler and "
                f"PodDisruptionBudget each, tier {franchise.spec.tier}; "
                f"{len(plan.outlets)} outlet configuration(s)",
            ),
            applied.changed + applied.pruned,
        )

    async def _routing_step(
        self, body: Mapping[str, Any], franchise: Franchise
    ) -> tuple[Condition, list[str]]:
        try:
            published, outlets = await self.register(franchise.name)
        except Exception as exc:
            raise StepFailed(
                Condition("RoutingReady", "False", "RoutingUnavailable", _short(exc))
            ) from exc
        key = routing_key(franchise.name)
        if published:
            self._event(
                body,
                "RoutingPublished",
                f"{self.routing.bucket}/{key}: {len(SILO_SERVICES)} upstreams, "
                f"{len(outlets)} outlet(s)",
            )
        return (
            Condition(
                "RoutingReady",
                "True",
                "Published",
                f"gateway routing entry {key} in bucket {self.routing.bucket}",
            ),
            [f"routing/{key}"] if published else [],
        )

    async def register(self, franchise_name: str) -> tuple[bool, list[str]]:
        """The franchise's outlets into its status and its routing entry (both compare-and-set).

        Returns whether the routing entry changed, and the outlets registered.
        """
        outlets: list[str] = []
        for _ in range(CAS_ATTEMPTS):
            body = await self.kube.get(API_VERSION, FRANCHISE, franchise_name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return False, []
            franchise = Franchise.from_body(body)
            outlets = [o.name for o in registered_outlets(franchise, await self.outlets())]
            status = body.get("status") or {}
            if status.get("outlets") == outlets and status.get("outletCount") == len(outlets):
                break
            try:
                await self.kube.patch(
                    API_VERSION,
                    FRANCHISE,
                    franchise_name,
                    {
                        "metadata": {"resourceVersion": _rv(body)},
                        "status": {"outlets": outlets, "outletCount": len(outlets)},
                    },
                    subresource="status",
                )
                break
            except Conflict:
                continue
        else:
            raise RetryLater(f"Franchise {franchise_name} kept changing", 1.0)

        async def entry() -> dict[str, Any] | None:
            body = await self.kube.get(API_VERSION, FRANCHISE, franchise_name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return None
            franchise = Franchise.from_body(body)
            names = [o.name for o in registered_outlets(franchise, await self.outlets())]
            return routing_entry(franchise, names, self.env, now_iso())

        published = await self.routing.publish(routing_key(franchise_name), entry)
        return published, outlets

    async def republish_routing(self) -> int:
        """Publish every existing Franchise's routing entry where it is missing or stale, as
        the operator starts: NATS may have come back empty (a restart without its storage),
        and until the entry is back the gateway sends that franchise's orders to the pool.
        Returns how many entries were written; a franchise that fails is left to its
        reconcile (resume, resync), which publishes the same entry."""
        written = 0
        for body in await self.kube.list(API_VERSION, FRANCHISE):
            name = body["metadata"]["name"]
            if body["metadata"].get("deletionTimestamp") or not is_true(body, "RoutingReady"):
                continue  # not published yet: its reconcile will
            try:
                published, _ = await self.register(name)
            except Exception as exc:  # NATS or the API server; the reconcile retries
                log.warning("routing entry of Franchise %s not republished: %s", name, exc)
                continue
            if published:
                written += 1
                self._event(body, "RoutingPublished", f"{routing_key(name)} republished at start")
        return written

    async def delete_franchise(self, body: Mapping[str, Any]) -> None:
        """Take a franchise off the platform, honouring ``spec.retention`` for its data."""
        franchise = Franchise.from_body(body)
        if franchise.paused:
            raise RetryLater(
                f"deletion waits: reconciling is paused by {PAUSED_ANNOTATION}",
                self.settings.operator_resync_s,
            )
        ns = namespace_name(franchise.name)
        db = plan_database(franchise, self.env)
        previous = (body.get("status") or {}).get("conditions") or []
        retention = franchise.spec.retention
        fate = "dropped" if retention == Retention.Delete else "kept"
        deleting = Condition(
            "Ready", "False", "Deleting", f"being deleted; its database is {fate} ({retention})"
        )
        conditions = merge_conditions(previous, [deleting], franchise.generation, now_iso())
        await self._write_status(FRANCHISE, franchise.name, {"conditions": conditions})
        if await self.routing.remove(routing_key(franchise.name)):
            self._event(
                body,
                "RoutingRemoved",
                f"gateway routing entry {routing_key(franchise.name)} deleted",
            )
        existing = await self.kube.get("v1", "Namespace", ns)
        labels = (existing or {}).get("metadata", {}).get("labels") or {}
        if existing is not None and labels.get(FRANCHISE_LABEL) == franchise.name:
            if not existing["metadata"].get("deletionTimestamp"):
                await self.kube.delete("v1", "Namespace", ns)
            self._event(body, "NamespaceDeleted", f"namespace {ns} and everything in it deleted")
        user_note = await self.tenants.drop_user(db)
        if retention == Retention.Delete:
            existed = await self.tenants.drop(db)
            self._event(
                body,
                "DatabaseDropped",
                f"database {db.name} {'dropped' if existed else 'was already gone'} "
                f"(retention Delete); {user_note}",
            )
        else:
            self._event(
                body,
                "DatabaseRetained",
                f"database {db.name} kept (retention Retain); {user_note}. A Franchise of the "
                "same name finds it again; drop it by hand to erase the data",
            )

    # ------------------------------------------------------------------------- outlet ---

    async def reconcile_outlet(self, name: str, trigger: str = "change") -> None:
        body = await self.kube.get(API_VERSION, OUTLET, name)
        if body is None:
            return
        outlet = Outlet.from_body(body)
        if outlet.deleting:
            return
        previous = (body.get("status") or {}).get("conditions") or []
        if outlet.paused:
            await self._pause(body, outlet.generation, previous, OUTLET)
            return
        ref = outlet.spec.franchise_ref
        franchise_body = await self.kube.get(API_VERSION, FRANCHISE, ref)

        async def refuse(reason: str, message: str) -> None:
            conditions = [
                Condition("Ready", "False", reason, message),
                Condition("FranchiseFound", "True" if franchise_body else "False", reason, message),
                Condition("ConfigReady", "Unknown", "Blocked", f"waits for Franchise {ref}"),
                Condition("Registered", "False", reason, f"not registered in Franchise {ref}"),
            ]
            was = (find(previous, "Ready") or {}).get("reason")
            await self._write_status(
                OUTLET,
                name,
                {
                    "franchise": ref,
                    "conditions": merge_conditions(
                        previous, conditions, outlet.generation, now_iso()
                    ),
                },
            )
            if was != reason:
                self._event(body, reason, message, warn=True)
            raise RetryLater(message, self.settings.operator_retry_s)

        if franchise_body is None:
            await refuse(
                "FranchiseNotFound",
                f"Franchise {ref!r} does not exist: create it, or correct spec.franchiseRef",
            )
            return
        franchise = Franchise.from_body(franchise_body)
        if franchise.deleting:
            await refuse("FranchiseDeleting", f"Franchise {ref!r} is being deleted")
            return
        if not (
            is_true(franchise_body, "NamespaceReady") and is_true(franchise_body, "DatabaseReady")
        ):
            await refuse(
                "WaitingForFranchise",
                f"Franchise {ref!r} is not ready yet (its namespace and database come first)",
            )
            return

        ns = namespace_name(ref)
        hq = await self.hq_config()
        db = plan_database(franchise, self.env)
        try:
            existing = await self.kube.get("v1", "ConfigMap", outlet_config_map_name(name), ns)
            result = await self.kube.apply(plan_outlet_config_map(franchise, outlet, hq))
            spec = outlet.spec.model_dump(by_alias=True, mode="json", exclude={"config"})
            await self.tenants.register_outlet(db.name, name, {"franchise_id": ref, **spec})
            # The menu service is the authority every service asks about an outlet.
            await self.menu.register(outlet)
            await self.register(ref)
        except Exception as exc:  # the API server, the database or NATS
            message = f"could not configure or register: {_short(exc)}"
            self._event(body, "ReconcileFailed", message, warn=True)
            raise RetryLater(message, self.settings.operator_retry_s) from exc
        changed = _rv(existing) != _rv(result)
        if changed:
            self._event(
                body, "ConfigApplied", f"ConfigMap {ns}/{outlet_config_map_name(name)} written"
            )
        message = (
            f"registered in Franchise {ref} (database {db.name}, routing "
            f"{routing_key(ref)}); configuration in ConfigMap {ns}/{outlet_config_map_name(name)}"
        )
        conditions = [
            Condition("Ready", "True", "Registered", message),
            Condition("FranchiseFound", "True", "Found", f"Franchise {ref} is ready"),
            Condition(
                "ConfigReady", "True", "Applied", f"ConfigMap {ns}/{outlet_config_map_name(name)}"
            ),
            Condition("Registered", "True", "Registered", message),
            Condition("Paused", "False", "Reconciling", "changes to the spec are applied"),
        ]
        was_ready = (find(previous, "Ready") or {}).get("status") == "True"
        new_status = {
            "franchise": ref,
            "namespace": ns,
            "observedGeneration": outlet.generation,
            "conditions": merge_conditions(previous, conditions, outlet.generation, now_iso()),
        }
        status = body.get("status") or {}
        if any(status.get(k) != v for k, v in new_status.items()):
            await self._write_status(OUTLET, name, new_status)
        if not was_ready:
            self._event(body, "Registered", message)
        elif changed and trigger == "resync":
            self._event(body, "DriftCorrected", "outlet configuration restored", warn=True)

    async def delete_outlet(self, body: Mapping[str, Any]) -> None:
        outlet = Outlet.from_body(body)
        ref = outlet.spec.franchise_ref
        # First, whatever happened to its Franchise: no order is taken for it from now on.
        if await self.menu.retire(outlet.name):
            self._event(body, "Retired", f"outlet {outlet.name} retired from the menu service")
        franchise_body = await self.kube.get(API_VERSION, FRANCHISE, ref)
        if franchise_body is None:
            return  # nothing else of it can exist
        franchise = Franchise.from_body(franchise_body)
        ns = namespace_name(ref)
        db = plan_database(franchise, self.env)
        try:
            await self.kube.delete("v1", "ConfigMap", outlet_config_map_name(outlet.name), ns)
        except KubeError as exc:
            if exc.status != 403:  # 403: the namespace is terminating, and the map with it
                raise
        if await self.tenants.exists(db.name):
            await self.tenants.unregister_outlet(db.name, outlet.name)
        await self.register(ref)
        self._event(body, "Unregistered", f"removed from Franchise {ref}")
