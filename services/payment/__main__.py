"""``python -m bobaku.services.payment``: serve the payment service."""

from __future__ import annotations

from bobaku.kernel.telemetry import configure_logging
from bobaku.kernel.web import run_service
from bobaku.services.payment.bootstrap import build_app
from bobaku.services.payment.settings import PaymentSettings


def main() -> None:
    settings = PaymentSettings()
    configure_logging(settings.service_name, settings.log_level)
    run_service(build_app(settings))


if __name__ == "__main__":
    main()
