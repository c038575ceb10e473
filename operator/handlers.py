"""The kopf wiring: which event runs which reconciler.

Handlers are thin: they name the object and hand over to :class:`Reconciler`, which reads
the object fresh from the API server. Create, update and resume share one handler (the
reconcile is the same whatever happened); a timer re-runs it every ``OPERATOR_RESYNC_S`` to
correct drift and pick up HQ configuration changes; a watch on the silo Deployments brings
a deleted one back at once; deletion waits on the ``bobaku.io/finalizer`` finalizer until
the franchise's retention policy has been carried out.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any, cast

import kopf

from bobaku.operator.kube import Credentials
from bobaku.operator.metrics import observed
from bobaku.operator.model import (
    FINALIZER,
    FRANCHISE_LABEL,
    GROUP,
    MANAGED_BY,
    OPERATOR,
    VERSION,
)
from bobaku.operator.reconcile import Reconciler, RetryLater

log = logging.getLogger(__name__)

ANNOTATION_PREFIX = "bobaku.io"


def post_kopf_event(body: Mapping[str, Any], *, type: str, reason: str, message: str) -> None:
    """Post a Kubernetes Event about ``body`` through kopf's background poster."""
    kopf.event(kopf.Body(cast(kopf.RawBody, dict(body))), type=type, reason=reason, message=message)


def configure(settings: kopf.OperatorSettings) -> None:
    settings.persistence.finalizer = FINALIZER
    # Keep kopf's bookkeeping in our own annotations; the status belongs to the reconciler.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=ANNOTATION_PREFIX
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.posting.reporting_component = OPERATOR
    settings.posting.reporting_instance = socket.gethostname()
    settings.posting.level = logging.INFO
    # The CRDs come with the chart, before the operator; not watching CRDs means the
    # operator needs no permission on customresourcedefinitions.
    settings.scanning.disabled = True
    # Watch only our own Deployments (server-side filter), to undo their deletion at once.
    settings.watching.label_selectors["apps", "deployments"] = f"{MANAGED_BY}={OPERATOR}"


def build_registry(
    reconciler: Reconciler, credentials: Callable[[], Credentials]
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    settings = reconciler.settings
    retry = settings.operator_retry_s
    resync = settings.operator_resync_s

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings)

    @kopf.on.startup(id="republish-routing", registry=registry)
    async def republish_routing(**_: Any) -> None:
        # Best effort: never hold the operator's start; the reconciles publish them too.
        try:
            written = await reconciler.republish_routing()
        except Exception as exc:  # the API server is not answering yet
            log.warning("routing entries not republished at start: %s", exc)
            return
        log.info("routing entries republished at start: %d", written)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        c = credentials()
        return kopf.ConnectionInfo(
            server=c.server,
            ca_path=c.ca_path,
            insecure=c.insecure,
            token=c.token,
            certificate_path=c.cert_path,
            private_key_path=c.key_path,
            # Events about cluster-scoped Franchises and Outlets are posted here.
            default_namespace=reconciler.env.platform_namespace,
        )

    @kopf.on.probe(id="nats", registry=registry)
    def nats_connected(**_: Any) -> bool:
        return bool(reconciler.routing.bus.connected)

    # ------------------------------------------------------------------ Franchise ---

    @kopf.on.resume(GROUP, VERSION, "franchises", id="reconcile", backoff=retry, registry=registry)
    @kopf.on.create(GROUP, VERSION, "franchises", id="reconcile", backoff=retry, registry=registry)
    @kopf.on.update(GROUP, VERSION, "franchises", id="reconcile", backoff=retry, registry=registry)
    async def franchise_changed(name: str, **_: Any) -> None:
        try:
            async with observed("Franchise", "change", RetryLater):
                await reconciler.reconcile_franchise(name)
        except RetryLater as exc:
            raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc

    @kopf.timer(
        GROUP,
        VERSION,
        "franchises",
        id="resync",
        interval=resync,
        initial_delay=resync,
        idle=min(resync, 5.0),
        registry=registry,
    )
    async def franchise_resync(name: str, **_: Any) -> None:
        try:
            async with observed("Franchise", "resync", RetryLater):
                await reconciler.reconcile_franchise(name, trigger="resync")
        except RetryLater as exc:
            log.info("resync of Franchise %s: %s", name, exc)

    @kopf.on.delete(GROUP, VERSION, "franchises", id="retire", backoff=retry, registry=registry)
    async def franchise_deleted(body: kopf.Body, **_: Any) -> None:
        try:
            async with observed("Franchise", "delete", RetryLater):
                await reconciler.delete_franchise(body)
        except RetryLater as exc:
            raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc

    @kopf.on.event(
        "apps", "v1", "deployments", id="drift", labels={MANAGED_BY: OPERATOR}, registry=registry
    )
    async def silo_workload_event(type: str | None, labels: kopf.Labels, **_: Any) -> None:
        franchise = labels.get(FRANCHISE_LABEL)
        if type == "DELETED" and franchise:
            try:
                async with observed("Franchise", "drift", RetryLater):
                    await reconciler.reconcile_franchise(franchise, trigger="drift")
            except RetryLater as exc:
                log.info("drift correction of Franchise %s: %s", franchise, exc)

    # --------------------------------------------------------------------- Outlet ---

    @kopf.on.resume(GROUP, VERSION, "outlets", id="reconcile", backoff=retry, registry=registry)
    @kopf.on.create(GROUP, VERSION, "outlets", id="reconcile", backoff=retry, registry=registry)
    @kopf.on.update(GROUP, VERSION, "outlets", id="reconcile", backoff=retry, registry=registry)
    async def outlet_changed(name: str, **_: Any) -> None:
        try:
            async with observed("Outlet", "change", RetryLater):
                await reconciler.reconcile_outlet(name)
        except RetryLater as exc:
            raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc

    @kopf.timer(
        GROUP,
        VERSION,
        "outlets",
        id="resync",
        interval=resync,
        initial_delay=resync,
        idle=min(resync, 5.0),
        registry=registry,
    )
    async def outlet_resync(name: str, **_: Any) -> None:
        try:
            async with observed("Outlet", "resync", RetryLater):
                await reconciler.reconcile_outlet(name, trigger="resync")
        except RetryLater as exc:
            log.info("resync of Outlet %s: %s", name, exc)

    @kopf.on.delete(GROUP, VERSION, "outlets", id="retire", backoff=retry, registry=registry)
    async def outlet_deleted(body: kopf.Body, **_: Any) -> None:
        async with observed("Outlet", "delete", RetryLater):
            await reconciler.delete_outlet(body)

    return registry
