"""The operator process: connections opened, kopf run, connections closed."""

from __future__ import annotations

import functools
import logging

import kopf

from bobaku.kernel.bus import EventBus
from bobaku.kernel.db import Databases
from bobaku.kernel.routing_table import RoutingEntries
from bobaku.operator.config import OperatorSettings
from bobaku.operator.database import TenantDatabases
from bobaku.operator.handlers import build_registry, post_kopf_event
from bobaku.operator.kube import Credentials, Kube
from bobaku.operator.model import OPERATOR
from bobaku.operator.outlets import MenuOutlets
from bobaku.operator.reconcile import Reconciler

log = logging.getLogger(__name__)


async def run(settings: OperatorSettings) -> None:
    credentials = functools.partial(Credentials.load, settings.kubeconfig)
    databases = Databases.from_settings(settings)
    # The operator publishes no events of its own; it only needs JetStream for the KV.
    bus = await EventBus.connect(settings, streams=())
    menu = MenuOutlets.from_settings(settings)
    try:
        async with Kube(credentials, field_manager=OPERATOR) as kube:
            reconciler = Reconciler(
                settings,
                kube,
                TenantDatabases(databases),
                RoutingEntries.from_settings(bus, settings),
                post_kopf_event,
                menu,
            )
            log.info(
                "operator starting",
                extra={
                    "platform_namespace": settings.operator_namespace,
                    "routing_bucket": settings.routing_bucket,
                    "resync_s": settings.operator_resync_s,
                },
            )
            await kopf.operator(
                registry=build_registry(reconciler, credentials),
                clusterwide=True,
                standalone=True,
                liveness_endpoint=f"http://{settings.http_host}:{settings.http_port}/healthz",
            )
    finally:
        await menu.close()
        await bus.close()
        await databases.close()
