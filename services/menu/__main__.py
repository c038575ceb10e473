"""``python -m bobaku.services.menu``: serve the menu service (port 18082 by default)."""

from __future__ import annotations

from bobaku.kernel.telemetry import configure_logging
from bobaku.kernel.web import run_service
from bobaku.services.menu.bootstrap import build_app
from bobaku.services.menu.settings import MenuSettings


def main() -> None:
    settings = MenuSettings()
    configure_logging(settings.service_name, settings.log_level)
    run_service(build_app(settings))


if __name__ == "__main__":
    main()
