"""Composition root of the provider simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bobaku.kernel.settings import Settings
from bobaku.kernel.web import create_app
from bobaku.services.provider_sim.adapters.callbacks import CallbackSender
from bobaku.services.provider_sim.entrypoints.http import CONTEXT, api
from bobaku.services.provider_sim.service_layer.simulator import ProviderSimulator
from bobaku.services.provider_sim.settings import ProviderSimSettings

# Instant mode still retries a callback the merchant was not ready for, just sooner.
INSTANT_RETRY_DELAYS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


def build_app(settings: Settings) -> web.Application:
    sim_settings = (
        settings
        if isinstance(settings, ProviderSimSettings)
        else ProviderSimSettings(**settings.model_dump())
    )
    # An external system: no platform infrastructure, only its own memory.
    app = create_app(sim_settings)
    api.install(app)

    async def simulator(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()
        delays = (
            INSTANT_RETRY_DELAYS_S
            if sim_settings.provider_sim_mode == "instant"
            else sim_settings.provider_callback_retry_delays_s
        )
        sender = CallbackSender(
            session,
            timeout_s=sim_settings.provider_callback_timeout_s,
            retry_delays_s=delays,
        )
        app[CONTEXT] = ProviderSimulator(sim_settings, sender)
        yield
        await app[CONTEXT].close()
        await session.close()

    app.cleanup_ctx.append(simulator)
    return app
