"""``python -m bobaku.services.customer``: serve the customer service (port 18081)."""

from __future__ import annotations

from bobaku.kernel.telemetry import configure_logging
from bobaku.kernel.web import run_service
from bobaku.services.customer.bootstrap import build_app
from bobaku.services.customer.settings import CustomerSettings


def main() -> None:
    settings = CustomerSettings()
    configure_logging(settings.service_name, settings.log_level)
    run_service(build_app(settings))


if __name__ == "__main__":
    main()
