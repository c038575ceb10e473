"""Composition root of the notification service: ``build_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from bobaku.kernel.client import ServiceClient
from bobaku.kernel.db import IndexCatalog
from bobaku.kernel.eventstore import AggregateStore
from bobaku.kernel.idempotency import ProcessedEvents
from bobaku.kernel.web import BUS, DATABASES, REDIS, create_app
from bobaku.services.notification.adapters import records
from bobaku.services.notification.adapters.directory import Customers, KitchenPresence
from bobaku.services.notification.adapters.email import SmtpSender
from bobaku.services.notification.adapters.push import PushClient
from bobaku.services.notification.adapters.records import Records
from bobaku.services.notification.adapters.state import State
from bobaku.services.notification.adapters.templates import Templates
from bobaku.services.notification.entrypoints import consumers
from bobaku.services.notification.entrypoints.consumers import NOTIFICATIONS
from bobaku.services.notification.entrypoints.http import SERVICES, Services, api
from bobaku.services.notification.service_layer.delivery import Deliverer
from bobaku.services.notification.service_layer.notify import Notifier
from bobaku.services.notification.service_layer.views import Views
from bobaku.services.notification.settings import NotificationSettings


def indexes() -> IndexCatalog:
    catalog = IndexCatalog()
    catalog.declare(*records.INDEXES)
    return catalog


def build_app(settings: NotificationSettings) -> web.Application:
    app = create_app(settings, uses=("nats", "redis", "mongo"), indexes=indexes())
    api.install(app)
    app.cleanup_ctx.append(_wiring(settings))
    return app


def _wiring(settings: NotificationSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def wire(app: web.Application) -> AsyncIterator[None]:
        bus, databases = app[BUS], app[DATABASES]
        await bus.ensure_stream(NOTIFICATIONS)
        # Declaring the aggregate streams here lets this service start before their owners.
        stores = {kind: AggregateStore(bus, kind) for kind in ("order", "payment", "loyalty")}
        for aggregates in stores.values():
            await aggregates.start()
        state = State(bus)
        await state.start()
        http = aiohttp.ClientSession()
        customers = ServiceClient(
            "customer", settings.customer_url, token=settings.service_token, session=http
        )
        store = Records(databases)
        # One watch on the hub's presence for the process (not a consumer per lookup).
        presence = KitchenPresence(
            bus, settings.hub_presence_bucket, settings.hub_deployment_id or settings.deployment_id
        )
        await presence.start()
        key = settings.notification_signing_key.get_secret_value().encode()
        notifier = Notifier(
            bus=bus,
            state=state,
            records=store,
            customers=Customers(customers, ttl_s=settings.customer_card_ttl_s),
            presence=presence,
            templates=Templates(),
            signing_key=key,
            public_base_url=settings.gateway_public_url,
            late_grace_s=settings.late_grace_s,
            failure_window_s=settings.provider_failure_window_s,
            failure_threshold=settings.provider_failure_threshold,
            orders=stores["order"],
        )
        deliverer = Deliverer(
            bus=bus,
            records=store,
            status=notifier.status,
            tokens=notifier.tokens,
            smtp=SmtpSender(
                settings.smtp_host, settings.smtp_port, settings.email_from, settings.smtp_timeout_s
            ),
            push=PushClient(
                http,
                fcm_base=settings.fcm_base,
                apns_base=settings.apns_base,
                project=settings.fcm_project,
                topic=settings.apns_topic,
                credential=settings.push_credential.get_secret_value(),
                timeout_s=settings.push_timeout_s,
            ),
            message_id_domain=settings.message_id_domain,
            tries={
                "in_app": settings.in_app_tries,
                "email": settings.email_tries,
                "push": settings.push_tries,
            },
            max_retry_after_s=settings.max_retry_after_s,
        )
        app[SERVICES] = Services(
            notifier=notifier,
            deliverer=deliverer,
            views=Views(store, notifier.status, notifier.inbox),
            signing_key=key,
            receipt_key=settings.push_credential.get_secret_value().encode(),
        )
        processed = ProcessedEvents(app[REDIS], f"{settings.deployment_id}-notification-events")
        await consumers.start(bus, notifier, deliverer, processed, settings)
        yield
        await bus.stop_consumers()
        await presence.stop()
        await http.close()

    return wire
