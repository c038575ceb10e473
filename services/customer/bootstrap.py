"""Composition root of the customer service: ``build_app(settings)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from bobaku.kernel import streams
from bobaku.kernel.auth import (
    TokenIssuer,
    TokenVerifier,
    load_private_key,
    public_key_pem,
)
from bobaku.kernel.db import IndexCatalog
from bobaku.kernel.listings import Listings
from bobaku.kernel.outbox import Outbox
from bobaku.kernel.streams import ensure_streams
from bobaku.kernel.tasks import BackgroundTask
from bobaku.kernel.web import BUS, DATABASES, REDIS, VERIFIER, create_app
from bobaku.services.customer.adapters import refresh_tokens, users
from bobaku.services.customer.adapters.loyalty_expiry import ExpiryCalendar
from bobaku.services.customer.adapters.loyalty_ledger import LedgerStore
from bobaku.services.customer.adapters.loyalty_views import LoyaltyViews
from bobaku.services.customer.adapters.passwords import PasswordHasher
from bobaku.services.customer.adapters.refresh_tokens import RefreshTokenStore
from bobaku.services.customer.adapters.users import UserRepository
from bobaku.services.customer.entrypoints import consumers
from bobaku.services.customer.entrypoints.http import CONTEXT, ISSUER, api, jwks
from bobaku.services.customer.service_layer.context import CustomerContext
from bobaku.services.customer.service_layer.loyalty_expiry import LoyaltyExpiry
from bobaku.services.customer.service_layer.views import CustomerViews
from bobaku.services.customer.settings import CustomerSettings

log = logging.getLogger(__name__)

# The loyalty expiry job of this process (tests drive its steps through it).
EXPIRY = web.AppKey("loyalty_expiry", LoyaltyExpiry)


def indexes() -> IndexCatalog:
    catalog = IndexCatalog()
    catalog.declare(*users.INDEXES, *refresh_tokens.INDEXES)
    return catalog


def token_issuer(settings: CustomerSettings) -> TokenIssuer:
    if settings.jwt_private_key_file is None:
        raise ValueError("JWT_PRIVATE_KEY_FILE is not set: the customer service signs tokens")
    key = load_private_key(settings.jwt_private_key_file.read_bytes())
    return TokenIssuer(
        key, kid=settings.jwt_key_id, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )


def password_hasher(settings: CustomerSettings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
        workers=settings.password_hash_workers,
    )


def build_app(settings: CustomerSettings) -> web.Application:
    issuer = token_issuer(settings)
    app = create_app(settings, uses=("nats", "redis", "mongo"), indexes=indexes())
    own_key = issuer.public_key()
    if VERIFIER in app:
        configured = app[VERIFIER].keys.get(issuer.kid)
        if configured is not None and public_key_pem(configured) != public_key_pem(own_key):
            raise ValueError(
                f"JWT_PUBLIC_KEY_FILE holds another key than JWT_PRIVATE_KEY_FILE for kid "
                f"{issuer.kid!r}; tokens this service signs would not verify"
            )
        app[VERIFIER].keys[issuer.kid] = own_key
    else:
        app[VERIFIER] = TokenVerifier(
            {issuer.kid: own_key}, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
    app[ISSUER] = issuer
    api.install(app)
    app.router.add_get("/.well-known/jwks.json", jwks)
    app.cleanup_ctx.append(_wiring(settings, issuer))
    return app


def _wiring(
    settings: CustomerSettings, issuer: TokenIssuer
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def wire(app: web.Application) -> AsyncIterator[None]:
        # Runs after the kernel opened the connections; stops before they close.
        bus, databases = app[BUS], app[DATABASES]
        ledgers = LedgerStore(bus)
        await ledgers.start()
        # The order service owns ES_ORDER; either service may start first. Expiry
        # reminders go out on EVENTS.
        await ensure_streams(bus, streams.ORDER, streams.EVENTS)
        valid_days = settings.loyalty_points_valid_days
        calendar = ExpiryCalendar(bus, settings.deployment_id, valid_days)
        await calendar.start()

        user_repo = UserRepository(databases)
        loyalty = LoyaltyViews(Listings(app[REDIS], f"{settings.deployment_id}:customer:loyalty"))
        outbox = Outbox(bus, databases, platform_collections=(users.USERS,))
        passwords = password_hasher(settings)
        await passwords.prepare()
        ctx = CustomerContext(
            users=user_repo,
            refresh_tokens=RefreshTokenStore(databases),
            passwords=passwords,
            issuer=issuer,
            outbox=outbox,
            ledgers=ledgers,
            views=CustomerViews(
                users=user_repo,
                loyalty=loyalty,
                ledgers=ledgers,
                calendar=calendar,
                valid_days=valid_days,
            ),
            access_ttl_s=settings.access_token_ttl_s,
            refresh_ttl_s=settings.refresh_token_ttl_s,
        )
        app[CONTEXT] = ctx
        await bus.consume(consumers.order_consumer(settings), consumers.loyalty_from_orders(ctx))
        await bus.consume(consumers.projection_consumer(settings), consumers.ledger_projection(ctx))
        relay = outbox.sweeper("outbox-relay", settings.outbox_relay_interval_s)
        expiry = LoyaltyExpiry(
            ctx, bus, calendar, valid_days, notice_days=settings.loyalty_expiry_notice_days
        )
        expiry_task = BackgroundTask(
            "loyalty-expiry", expiry.step, interval_s=settings.loyalty_expiry_interval_s
        )
        app[EXPIRY] = expiry
        relay.start()
        expiry_task.start()
        yield
        await expiry_task.stop()
        await relay.stop()
        passwords.close()

    return wire
