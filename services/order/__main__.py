"""``python -m bobaku.services.order``: serve the order service and run its saga."""

from __future__ import annotations

from bobaku.kernel.telemetry import configure_logging
from bobaku.kernel.web import run_service
from bobaku.services.order.bootstrap import build_app
from bobaku.services.order.settings import OrderSettings


def main() -> None:
    settings = OrderSettings()
    configure_logging(settings.service_name, settings.log_level)
    run_service(build_app(settings))


if __name__ == "__main__":
    main()
