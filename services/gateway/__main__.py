"""``python -m bobaku.services.gateway``: serve the gateway."""

from __future__ import annotations

from bobaku.kernel.telemetry import configure_logging
from bobaku.kernel.web import run_service
from bobaku.services.gateway.app import build_app
from bobaku.services.gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level)
    run_service(build_app(settings))


if __name__ == "__main__":
    main()
