"""Composition root of the analytics service: real adapters in, app (or a rebuild) out."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from tqdm import tqdm  # type: ignore[import-untyped]

from bobaku.kernel import streams
from bobaku.kernel.bus import DEAD_LETTERS, EVENTS, EventBus
from bobaku.kernel.cache import redis_from_settings
from bobaku.kernel.routing_table import watched_silos
from bobaku.kernel.streams import ensure_streams
from bobaku.kernel.web import BUS, METRIC_SOURCES, REDIS, create_app
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.domain.model import Rules, Share
from bobaku.services.analytics.entrypoints import dashboard
from bobaku.services.analytics.entrypoints.consumers import start_consumers
from bobaku.services.analytics.entrypoints.http import STORE, api
from bobaku.services.analytics.service_layer.feed import FiguresFeed
from bobaku.services.analytics.service_layer.handlers import rebuild
from bobaku.services.analytics.service_layer.metrics import BusinessMetrics
from bobaku.services.analytics.service_layer.seed_history import seed_history
from bobaku.services.analytics.settings import AnalyticsSettings


def rules_of(settings: AnalyticsSettings, share: Share | None = None) -> Rules:
    return Rules(
        zone=ZoneInfo(settings.analytics_timezone),
        service_target_s=settings.analytics_service_target_s,
        minute_retention=timedelta(hours=settings.analytics_minute_retention_h),
        share=share or Share(),
    )


@contextlib.asynccontextmanager
async def share_of(bus: EventBus, settings: AnalyticsSettings) -> AsyncIterator[Share]:
    """What this instance keeps: a silo its franchise's detail; the pooled instance every
    brand-level figure, and the detail of the franchises without a silo, watched in the
    routing table for as long as the context lasts (docs/analytics.md "Pooled and silo")."""
    if settings.deployment_mode == "silo" and settings.franchise_id:
        yield Share(silo_of=settings.franchise_id)
        return
    async with watched_silos(bus, settings) as silos:
        yield Share(silos=silos)


def build_app(settings: AnalyticsSettings, *, run_consumers: bool = True) -> web.Application:
    # Projections replay the streams from their start, whatever other consumers do.
    replaying = settings.model_copy(update={"consumers_start_at": "all"})
    app = create_app(replaying, uses=("nats", "redis"))
    api.install(app)
    dashboard.install(app, settings)

    async def wire(app: web.Application) -> AsyncIterator[None]:
        async with share_of(app[BUS], settings) as share:
            store = ProjectionStore(app[REDIS], settings.instance_id, rules_of(settings, share))
            app[STORE] = store
            exported = BusinessMetrics(
                store,
                lease_s=settings.analytics_metrics_lease_s,
                forecast_hours=settings.analytics_forecast_hours,
            )
            app[METRIC_SOURCES].append(exported.collect)
            feed: FiguresFeed | None = None
            if run_consumers:
                await ensure_streams(app[BUS], streams.EVENTS)
                feed = FiguresFeed(app[BUS], settings.analytics_feed_interval_s)
                feed.start()
                await start_consumers(app[BUS], store, settings.analytics_durable, feed)
            yield
            app[METRIC_SOURCES].remove(exported.collect)
            await exported.close()
            if feed is not None:
                await feed.stop()

    app.cleanup_ctx.append(wire)
    return app


async def rebuild_command(settings: AnalyticsSettings) -> int:
    """``rebuild``: every figure again from the streams, with a progress bar on stderr."""
    bus = await EventBus.connect(settings, streams=(EVENTS, DEAD_LETTERS))
    redis = redis_from_settings(settings)
    started = time.perf_counter()
    try:
        async with share_of(bus, settings) as share:
            store = ProjectionStore(redis, settings.instance_id, rules_of(settings, share))
            with tqdm(desc="rebuild", unit="msg", file=sys.stderr) as bar:

                def advance(n: int, total: int) -> None:
                    bar.total = total
                    bar.update(n)

                done = await rebuild(bus, store, progress=advance)
    finally:
        await redis.aclose()
        await bus.close()
    print(
        f"rebuilt generation {done.generation}: {done.events} events, {done.orders} orders "
        f"in {time.perf_counter() - started:.1f}s",
        file=sys.stderr,
    )
    return 0


async def seed_history_command(
    settings: AnalyticsSettings, days: int, scale: float, seed: int
) -> int:
    """``seed-history``: the demo brand's past, then a rebuild so its figures show at once."""
    rules = rules_of(settings)
    bus = await EventBus.connect(settings, streams=(EVENTS, DEAD_LETTERS))
    started = time.perf_counter()
    try:
        with tqdm(desc="seed-history", unit="day", total=days, file=sys.stderr) as bar:
            done = await seed_history(
                bus,
                end=datetime.now(rules.zone).date(),
                days=days,
                zone=rules.zone,
                seed=seed,
                scale=scale,
                progress=lambda n, _: bar.update(n),
            )
    finally:
        await bus.close()
    print(
        f"seeded {done.days} days: {done.orders} orders ({done.events} events) and "
        f"{done.loyalty_events} loyalty facts added, {done.orders_existing} orders and "
        f"{done.loyalty_existing} facts already there ({done.days_skipped} days skipped) "
        f"in {time.perf_counter() - started:.1f}s"
        + (f"; an older generator's {', '.join(done.retired)} deleted" if done.retired else ""),
        file=sys.stderr,
    )
    return await rebuild_command(settings)
