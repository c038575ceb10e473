"""``python -m bobaku.services.push_sim``: serve the simulated FCM and APNs (port 18091)."""

from __future__ import annotations

from aiohttp import web

from bobaku.kernel.telemetry import configure_logging
from bobaku.services.push_sim.app import build_app
from bobaku.services.push_sim.settings import PushSimSettings


def main() -> None:
    settings = PushSimSettings()
    configure_logging(settings.service_name, settings.log_level)
    web.run_app(build_app(settings), host=settings.http_host, port=settings.http_port,
                print=None)  # fmt: skip


if __name__ == "__main__":
    main()
