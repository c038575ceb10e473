"""Composition root of the order service: real adapters in, app out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bobaku.kernel.client import ServiceClient
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.listings import Listings, ReadModelGuard, WriteOnceDocuments
from bobaku.kernel.outlets import OutletDirectory
from bobaku.kernel.settings import Settings
from bobaku.kernel.tasks import BackgroundTask
from bobaku.kernel.web import BUS, DATABASES, REDIS, create_app
from bobaku.services.order.adapters import repository
from bobaku.services.order.adapters.menu_copy import MenuCopies
from bobaku.services.order.adapters.repository import OrderRepository
from bobaku.services.order.adapters.upstreams import (
    CustomerService,
    MenuService,
    NoStock,
    PaymentService,
    SupplyService,
)
from bobaku.services.order.entrypoints.consumers import rebuild_views, start_consumers
from bobaku.services.order.entrypoints.http import CONTEXT, api
from bobaku.services.order.service_layer.context import OrderContext
from bobaku.services.order.service_layer.views import OrderViews
from bobaku.services.order.settings import order_settings


def build_app(settings: Settings, *, run_consumers: bool = True) -> web.Application:
    app = create_app(settings, uses=("nats", "redis", "mongo"), franchise_scoped=True)
    api.install(app)

    async def wire(app: web.Application) -> AsyncIterator[None]:
        token = settings.service_token
        clients = {
            "menu": ServiceClient("menu", settings.menu_url, token=token),
            "customer": ServiceClient("customer", settings.customer_url, token=token),
            "payment": ServiceClient("payment", settings.payment_url, token=token, timeout_s=10),
            "supply": ServiceClient("supply", settings.supply_url, token=token),
        }
        outlets = OutletDirectory(clients["menu"], ttl_s=settings.outlet_directory_ttl_s)
        await outlets.follow(app[BUS])
        copies = MenuCopies(clients["menu"], app[REDIS])
        await copies.follow(app[BUS])
        menu = MenuService(clients["menu"], outlets, copies)
        store = AggregateStore(app[BUS], "order", snapshot_every=0)
        ns, platform = f"{settings.deployment_id}:order", app[DATABASES].platform
        await store.start()
        ctx = OrderContext(
            orders=OrderRepository(
                store,
                WriteOnceDocuments(app[REDIS], f"{ns}:directory", platform[repository.DIRECTORY]),
                WriteOnceDocuments(app[REDIS], f"{ns}:keys", platform[repository.IDEMPOTENCY]),
            ),
            views=OrderViews(Listings(app[REDIS], f"{ns}:views")),
            menu=menu,
            stock=SupplyService(clients["supply"])
            if order_settings(settings).order_stock_service == "supply"
            else NoStock(),
            customers=CustomerService(clients["customer"]),
            payments=PaymentService(clients["payment"]),
        )
        app[CONTEXT] = ctx
        guard_task = None
        if run_consumers:
            await start_consumers(app[BUS], ctx)
            # A Redis flush or restart loses the lists: replay the stream into them.
            guard = ReadModelGuard(app[REDIS], f"{ns}:views", lambda: rebuild_views(store, ctx))
            await guard.start()
            guard_task = BackgroundTask(
                "order-views-guard", guard.check, interval_s=2.0, max_backoff_s=5.0
            )
            guard_task.start()
        yield
        if guard_task is not None:
            await guard_task.stop()
        await copies.stop()
        await outlets.stop()
        for client in clients.values():
            await client.close()

    app.cleanup_ctx.append(wire)
    return app
