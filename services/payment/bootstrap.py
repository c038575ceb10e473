"""Composition root of the payment service: real adapters in, app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

from aiohttp import web

from bobaku.kernel import streams
from bobaku.kernel.bus import ConsumerSpec
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.listings import Listings, Tallies, WriteOnceDocuments
from bobaku.kernel.settings import Settings
from bobaku.kernel.web import BUS, DATABASES, REDIS, create_app
from bobaku.services.payment.adapters.documents import INTENTS, Deadlines, IntentDirectory
from bobaku.services.payment.adapters.lease import LeaderLease
from bobaku.services.payment.adapters.providers import ProviderGateway
from bobaku.services.payment.adapters.read_models import PaymentViews, SettlementCounters
from bobaku.services.payment.adapters.repository import PaymentRepository
from bobaku.services.payment.entrypoints.http import CONTEXT, COUNTERS, VIEWS, api
from bobaku.services.payment.entrypoints.projector import LeasedConsumer, PaymentProjector
from bobaku.services.payment.entrypoints.sweeper import deadline_sweeper
from bobaku.services.payment.service_layer.handlers import PaymentContext
from bobaku.services.payment.settings import payment_settings

EVENT_SOURCE = "payment-service"
BACKGROUND = web.AppKey("payment_background", tuple)


def build_app(settings: Settings) -> web.Application:
    cfg = payment_settings(settings)
    app = create_app(cfg, uses=("nats", "redis", "mongo"), franchise_scoped=True)
    api.install(app)

    async def wire(app: web.Application) -> AsyncIterator[None]:
        databases = app[DATABASES]
        namespace = f"{cfg.deployment_id}:payment"
        store = AggregateStore(app[BUS], "payment")
        await store.start()
        payments = PaymentRepository(store, EVENT_SOURCE)
        providers = ProviderGateway(cfg)
        ctx = PaymentContext(
            payments=payments,
            directory=IntentDirectory(
                databases,
                WriteOnceDocuments(app[REDIS], f"{namespace}:intents", databases.platform[INTENTS]),
            ),
            deadlines=Deadlines(Listings(app[REDIS], f"{namespace}:deadlines")),
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
        lease = LeaderLease(
            app[REDIS],
            f"payment-projector:{cfg.deployment_id}-{cfg.payment_projector_durable}",
            cfg.payment_projector_lease_s,
        )
        runner = LeasedConsumer(
            app[BUS], spec, projector.handle, lease, cfg.payment_projector_lease_s / 3
        )
        await runner.start()
        sweeper = deadline_sweeper(ctx, cfg.payment_sweep_interval_s)
        sweeper.start()
        app[BACKGROUND] = (sweeper, runner)
        yield
        await stop_background(app)
        await providers.close()

    app.cleanup_ctx.append(wire)
    # Before the kernel drains consumers: stop sweeping and give the projector lease back.
    app.on_shutdown.insert(0, stop_background)
    return app


async def stop_background(app: web.Application) -> None:
    if BACKGROUND in app:
        sweeper, runner = app[BACKGROUND]
        await sweeper.stop()
        await runner.stop()
