"""``python -m bobaku.hub``: serve the live hub (port 18888 unless ``HTTP_PORT`` says)."""

from __future__ import annotations

import asyncio
import logging

from bobaku.hub.app import serve
from bobaku.hub.settings import HubSettings
from bobaku.kernel.telemetry import configure_logging
from bobaku.kernel.tracing import setup_tracing


def main() -> None:
    settings = HubSettings()
    configure_logging(settings.service_name, settings.log_level)
    # One line per websocket upgrade and probe is noise at thousands of clients.
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    # Before the Tornado application exists: its handlers are instrumented at creation.
    setup_tracing(settings.service_name, tornado=True)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
