"""``python -m bobaku.operator``: run the operator until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging

from bobaku.kernel.telemetry import configure_logging
from bobaku.operator.config import OperatorSettings
from bobaku.operator.runtime import run


class _KopfNoise(logging.Filter):
    """kopf attaches its whole settings object to each object log record; drop it."""

    def filter(self, record: logging.LogRecord) -> bool:
        for attr in ("settings", "k8s_skip"):
            record.__dict__.pop(attr, None)
        return True


def main() -> None:
    settings = OperatorSettings()
    configure_logging(settings.service_name, settings.log_level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_KopfNoise())
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
