"""Composition root of the payment service: real adapters in, app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

from aiohttp import web

from bobaku.kernel import streams
from bobaku.kernel.bus import ConsumerSpec
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.listings import Listings, ReadModelGuard, Tallies, WriteOnceDocuments
from bobaku.kernel.settings import Settings
from bobaku.kernel.tasks import BackgroundTask
from bobaku.kernel.web import BUS, DATABASES, REDIS, create_app
from bobaku.services.payment.adapters.documents import INTENTS, Deadlines, IntentDirectory
from bobaku.services.payment.adapters.lease import LeaderLease
from bobaku.services.payment.adapters.providers import ProviderGateway
from bobaku.services.payment.adapters.read_models import PaymentViews, SettlementCounters
from bobaku.services.payment.adapters.repository import PaymentRepository
from bobaku.services.payment.entrypoints.http import CONTEXT, COUNTERS, VIEWS, api
from bobaku.services.payment.entrypoints.projector import (
    LeasedConsumer,
    PaymentProjector,
    rebuild_read_models,
)
from bobaku.services.payment.entrypoints.sweeper import deadline_sweeper
from bobaku.services.payment.service_layer.handlers import PaymentContext
from bobaku.services.payment.settings import payment_settings

EVENT_SOURCE = "payment-service"
BACKGROUND = web.AppKey("payment_background", tuple)
GUARD = web.AppKey("payment_read_models_guard", ReadModelGuard)


def build_app(settings: Settings) -> web.Application:
    cfg = payment_settings(settings)
    app = create_app(cfg, uses=("nats", "redis", "mongo"), franchise_scoped=True)
    api.install(app)

    async def wire(app: web.Application) -> AsyncIterator[None]:
        databases = app[DATABASES]
        namespace = f"{cfg.deployment_id}:payment"
        bus = app[BUS]
        store = AggregateStore(bus, "payment")
        await store.start()
        payments = PaymentRepository(store, EVENT_SOURCE)
        providers = ProviderGateway(cfg)

        def serves(franchise_id: str) -> bool:
            # The bus's franchise scope (kernel.web.franchise_scope), asked at each sweep:
            # a franchise moved into a silo is swept there from then on.
            return bus.scope is None or bus.scope(payments.subject(franchise_id, "deadlines"))

        ctx = PaymentContext(
            payments=payments,
            directory=IntentDirectory(
                databases,
                WriteOnceDocuments(app[REDIS], f"{namespace}:intents", databases.platform[INTENTS]),
            ),
            deadlines=Deadlines(Listings(app[REDIS], f"{namespace}:deadlines"), serves),
            providers=providers,
            settings=cfg,
        )
        counters = SettlementCounters(Tallies(app[REDIS], f"{namespace}:settlement"))
        views = PaymentViews(Listings(app[REDIS], f"{namespace}:payments"))
        app[CONTEXT], app[COUNTERS], app[VIEWS] = ctx, counters, views

        projector = PaymentProjector(payments, counters, views, ZoneInfo(cfg.settlement_timezone))
        spec = ConsumerSpec(
            durable=cfg.payment_projector_durable,
            stream=store.spec.name,
            filter_subjects=(streams.PAYMENT.wildcard,),
            max_deliveries=cfg.event_max_deliveries,
        )
        # Named as the bus names the durable (by instance): a silo's projector and the
        # pooled one each project their own franchises, so they must not share a lease.
        lease = LeaderLease(
            app[REDIS],
            f"payment-projector:{cfg.instance_id}-{cfg.payment_projector_durable}",
            cfg.payment_projector_lease_s,
        )
        runner = LeasedConsumer(
            bus, spec, projector.handle, lease, cfg.payment_projector_lease_s / 3
        )
        await runner.start()
        # Views, counters and deadlines rebuilt from the stream when Redis has lost them.
        # With no marker at the first check (Redis emptied while the service was down, an
        # older layout of the keys) the models are rebuilt too: one replay of this
        # instance's payments. Unless its consumers start at new messages (a test run),
        # which asks for no history: then the models count as whole at start.
        guard = ReadModelGuard(
            app[REDIS],
            f"{namespace}:models:{cfg.instance_id}",
            lambda: rebuild_read_models(store, projector, ctx),
        )
        if cfg.consumers_start_at == "new":
            await guard.start()
        guardian = BackgroundTask(
            "payment-read-models-guard", guard.check, interval_s=2.0, max_backoff_s=5.0
        )
        guardian.start()
        sweeper = deadline_sweeper(ctx, cfg.payment_sweep_interval_s)
        sweeper.start()
        app[GUARD] = guard
        app[BACKGROUND] = (sweeper, runner, guardian)
        yield
        await stop_background(app)
        await providers.close()

    app.cleanup_ctx.append(wire)
    # Before the kernel drains consumers: stop sweeping and give the projector lease back.
    app.on_shutdown.insert(0, stop_background)
    return app


async def stop_background(app: web.Application) -> None:
    if BACKGROUND in app:
        sweeper, runner, guardian = app[BACKGROUND]
        await guardian.stop()
        await sweeper.stop()
        await runner.stop()
