"""``python -m bobaku.operator``: run the operator until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os

from prometheus_client import start_http_server

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
    # /metrics for Prometheus when a port is given (in a cluster: the pod's metrics port).
    port = int(os.environ.get("OPERATOR_METRICS_PORT") or 0)
    if port:
        start_http_server(port, addr=os.environ.get("OPERATOR_METRICS_HOST", "127.0.0.1"))
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
