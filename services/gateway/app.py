"""Composition root of the gateway."""

from __future__ import annotations

from aiohttp import web

from bobaku.kernel.settings import Settings
from bobaku.kernel.web import SETTINGS, create_app, ok


async def api_index(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return ok(
        {
            "name": "BobaKu API",
            "version": settings.service_version,
            "environment": settings.environment,
        }
    )


def build_app(settings: Settings) -> web.Application:
    # Redis backs the rate limits and idempotency keys, NATS the routing table: the gateway
    # is not ready to serve without them.
    app = create_app(settings, uses=("redis", "nats"))
    app.router.add_get("/api/v1", api_index)
    return app
