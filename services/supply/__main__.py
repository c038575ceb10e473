"""``python -m bobaku.services.supply``: serve the supply service (port 18085 by default)."""

from __future__ import annotations

from bobaku.kernel.telemetry import configure_logging
from bobaku.kernel.web import run_service
from bobaku.services.supply.bootstrap import build_app
from bobaku.services.supply.settings import SupplySettings


def main() -> None:
    settings = SupplySettings()
    configure_logging(settings.service_name, settings.log_level)
    run_service(build_app(settings))


if __name__ == "__main__":
    main()
