"""``python -m bobaku.services.notification``: serve the notification service (port 18086)."""

from __future__ import annotations

from bobaku.kernel.telemetry import configure_logging
from bobaku.kernel.web import run_service
from bobaku.services.notification.bootstrap import build_app
from bobaku.services.notification.settings import NotificationSettings


def main() -> None:
    settings = NotificationSettings()
    configure_logging(settings.service_name, settings.log_level)
    run_service(build_app(settings))


if __name__ == "__main__":
    main()
