"""Composition root of the supply service: the real adapters wired to the handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from bobaku.kernel.client import ServiceClient
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.outlets import OutletDirectory
from bobaku.kernel.settings import Settings
from bobaku.kernel.streams import SUPPLY_PO, SUPPLY_TRANSFER
from bobaku.kernel.web import BUS, DATABASES, create_app
from bobaku.services.supply.adapters.aggregates import Documents, StockLedgers
from bobaku.services.supply.adapters.announcements import AnnouncedAvailability
from bobaku.services.supply.adapters.forecasts import DemandForecasts
from bobaku.services.supply.adapters.lists import PURCHASE_ORDERS, TRANSFERS, DocumentLists
from bobaku.services.supply.adapters.repository import INDEXES, SupplyRepository
from bobaku.services.supply.entrypoints.consumers import (
    arrivals,
    arrivals_spec,
    lists_projector,
    lists_spec,
    relay,
    relay_spec,
)
from bobaku.services.supply.entrypoints.http import CONTEXT, api
from bobaku.services.supply.service_layer.handlers import SOURCE, SupplyContext
from bobaku.services.supply.settings import SupplySettings, supply_settings

# Aggregate kinds: es.supply.<fr>.<outlet>, es.supplypo.<fr>.<po>, es.supplytransfer.<fr>.<id>
STOCK_KIND, PO_KIND, TRANSFER_KIND = "supply", "supplypo", "supplytransfer"


def build_app(settings: Settings, *, run_consumers: bool = True) -> web.Application:
    config = supply_settings(settings)
    app = create_app(config, uses=("nats", "mongo"), indexes=INDEXES, franchise_scoped=True)
    api.install(app)
    app.cleanup_ctx.append(_runtime(config, run_consumers))
    return app


def _runtime(settings: SupplySettings, run_consumers: bool):  # type: ignore[no-untyped-def]
    async def runtime(app: web.Application) -> AsyncIterator[None]:
        bus = app[BUS]
        stock = AggregateStore(bus, STOCK_KIND, snapshot_every=settings.stock_snapshot_every)
        ledgers = StockLedgers(
            stock, source=SOURCE, memory=timedelta(days=settings.reservation_memory_days)
        )
        await ledgers.start()
        pos = Documents(AggregateStore(bus, PO_KIND), source=SOURCE)
        transfers = Documents(AggregateStore(bus, TRANSFER_KIND), source=SOURCE)
        await pos.start()
        await transfers.start()
        menu = ServiceClient("menu", settings.menu_url, token=settings.service_token)
        outlets = OutletDirectory(menu, ttl_s=settings.outlet_directory_ttl_s)
        # Suggestions must not wait long for a forecast: par levels are the fallback.
        analytics = ServiceClient("analytics", settings.analytics_url, timeout_s=3, retries=0)
        await outlets.follow(bus)
        databases = app[DATABASES]
        supply = SupplyContext(
            SupplyRepository(databases),
            ledgers,
            pos,
            transfers,
            outlets,
            po_lists=DocumentLists(databases, PURCHASE_ORDERS),
            transfer_lists=DocumentLists(databases, TRANSFERS),
            forecasts=DemandForecasts(analytics),
            announced=AnnouncedAvailability(bus),
        )
        app[CONTEXT] = supply
        if run_consumers:
            deliveries = settings.event_max_deliveries
            await bus.consume(relay_spec(deliveries), relay(bus, supply))
            for stream in (SUPPLY_PO, SUPPLY_TRANSFER):
                await bus.consume(arrivals_spec(stream, deliveries), arrivals(supply))
                await bus.consume(lists_spec(stream, deliveries), lists_projector(supply, stream))
        yield
        await outlets.stop()
        await menu.close()
        await analytics.close()

    return runtime
