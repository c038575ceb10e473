"""``python -m bobaku.services.analytics``: serve the analytics API and run its projections.

``python -m bobaku.services.analytics rebuild``: build the projections again from the
streams from scratch (into a new generation, made current when complete), with a progress
bar on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bobaku.kernel.telemetry import configure_logging
from bobaku.kernel.web import run_service
from bobaku.services.analytics.bootstrap import build_app, rebuild_command
from bobaku.services.analytics.settings import AnalyticsSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bobaku.services.analytics")
    parser.add_argument("command", nargs="?", default="serve", choices=("serve", "rebuild"))
    args = parser.parse_args(argv)
    settings = AnalyticsSettings()
    configure_logging(settings.service_name, settings.log_level)
    if args.command == "rebuild":
        sys.exit(asyncio.run(rebuild_command(settings)))
    run_service(build_app(settings))


if __name__ == "__main__":
    main()
