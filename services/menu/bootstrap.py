"""Composition root of the menu service: the real adapters wired to the handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from aiohttp import web

from bobaku.kernel.cache import Cache
from bobaku.kernel.outbox import Outbox
from bobaku.kernel.settings import Settings
from bobaku.kernel.web import BUS, DATABASES, REDIS, create_app
from bobaku.services.menu.adapters.repository import (
    FRANCHISE_OUTBOXES,
    INDEXES,
    PLATFORM_OUTBOXES,
    MenuRepository,
)
from bobaku.services.menu.entrypoints.consumers import (
    cache_invalidation,
    cache_invalidation_spec,
)
from bobaku.services.menu.entrypoints.http import CONTEXT, api
from bobaku.services.menu.entrypoints.supply_availability import (
    supply_availability,
    supply_availability_spec,
)
from bobaku.services.menu.service_layer.caching import Tags, register_invalidation
from bobaku.services.menu.service_layer.context import Clock, MenuContext
from bobaku.services.menu.settings import MenuSettings, menu_settings


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """The menu service. ``clock`` replaces the wall clock (tests of hours and seasons)."""
    config = menu_settings(settings)
    app = create_app(
        config, uses=("nats", "redis", "mongo"), indexes=INDEXES, franchise_scoped=True
    )
    api.install(app)
    app.cleanup_ctx.append(_runtime(config, clock or utc_now))
    return app


def _runtime(
    settings: MenuSettings, clock: Clock
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def runtime(app: web.Application) -> AsyncIterator[None]:
        bus, databases = app[BUS], app[DATABASES]
        outbox = Outbox(
            bus,
            databases,
            platform_collections=PLATFORM_OUTBOXES,
            franchise_collections=FRANCHISE_OUTBOXES,
        )
        # One cache per deployment, shared by its replicas.
        deployment = settings.deployment_id
        cache = register_invalidation(
            Cache(app[REDIS], f"menu-{deployment}", ttl_s=settings.menu_cache_ttl_s),
            Tags(deployment),
        )
        app[CONTEXT] = MenuContext(
            repository=MenuRepository(databases, outbox),
            cache=cache,
            clock=clock,
            default_timezone=settings.default_timezone,
            deployment=deployment,
        )
        deliveries = settings.event_max_deliveries
        await bus.consume(
            cache_invalidation_spec(deliveries), cache_invalidation(cache, deployment)
        )
        await bus.consume(
            supply_availability_spec(deliveries),
            supply_availability(databases, cache, Tags(deployment)),
        )
        sweeper = outbox.sweeper("menu-outbox", settings.outbox_sweep_interval_s)
        sweeper.start()
        yield
        await sweeper.stop()

    return runtime
