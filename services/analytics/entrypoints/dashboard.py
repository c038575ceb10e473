"""The dashboard page: ``/dashboard`` (through the gateway, like the API), its script, its
settings and its static files, Chart.js among them (vendored at a pinned version under
``static/vendor/``, so the page needs no network but the platform's).

The page holds no figure of its own: after its user logs in (the platform's login, through
the gateway) it reads the analytics API with that token, at the level the token allows,
and reloads when the hub's feed says figures moved (``analytics.figures_moved`` on the
franchise's operations feed or the outlet's kitchen feed). A level the token does not
allow is the API's 403, which the page shows instead of any figure.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from bobaku.kernel.errors import NotFound
from bobaku.services.analytics.settings import AnalyticsSettings

STATIC = Path(__file__).parent / "static"


def _hub_static() -> Path:
    """The hub's static folder (found without importing the hub)."""
    spec = importlib.util.find_spec("bobaku.hub")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("bobaku.hub is not installed: the dashboard serves its client")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


# The hub's client library, served from where the hub keeps it (one copy for every page).
HUB_CLIENT = _hub_static() / "hub-client.js"
CHART_JS = "vendor/chart-4.5.1.umd.min.js"
FILES = {
    "dashboard.js": STATIC / "dashboard.js",
    "dashboard.css": STATIC / "dashboard.css",
    "hub-client.js": HUB_CLIENT,
    "chart.js": STATIC / CHART_JS,
}
TYPES = {".js": "application/javascript", ".css": "text/css", ".html": "text/html"}


def hub_ws_url(settings: AnalyticsSettings) -> str:
    """Where the browser opens the hub's websocket."""
    if settings.analytics_hub_public_ws_url:
        return settings.analytics_hub_public_ws_url
    parts = urlsplit(settings.hub_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/ws"


def install(app: web.Application, settings: AnalyticsSettings) -> None:
    config = {
        "gatewayUrl": "",  # the page comes through the gateway: same origin
        "hubWsUrl": hub_ws_url(settings),
        "timezone": settings.analytics_timezone,
        "serviceTargetSeconds": settings.analytics_service_target_s,
    }
    script = f"window.BOBAKU_CONFIG = {json.dumps(config)};\n"

    async def page(_: web.Request) -> web.Response:
        return web.Response(
            body=(STATIC / "dashboard.html").read_bytes(),
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def config_js(_: web.Request) -> web.Response:
        return web.Response(
            text=script,
            content_type="application/javascript",
            headers={"Cache-Control": "no-cache"},
        )

    async def static(request: web.Request) -> web.Response:
        path = FILES.get(request.match_info["name"])
        if path is None:
            raise NotFound(f"no file {request.match_info['name']}")
        return web.Response(
            body=path.read_bytes(),
            content_type=TYPES[path.suffix],
            charset="utf-8",
            headers={"Cache-Control": "max-age=300"},
        )

    app.router.add_get("/dashboard", page)
    app.router.add_get("/dashboard/config.js", config_js)
    app.router.add_get("/dashboard/static/{name}", static)
