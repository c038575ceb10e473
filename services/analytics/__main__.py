"""``python -m bobaku.services.analytics``: serve the analytics API and run its projections.

``python -m bobaku.services.analytics rebuild``: build the projections again from the
streams from scratch (into a new generation, made current when complete), with a progress
bar on stderr.

``python -m bobaku.services.analytics seed-history [--days N] [--scale X] [--seed S]``: a
generated past year of orders for the demo brand (``make seed-history``), then a rebuild.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bobaku.kernel.telemetry import configure_logging
from bobaku.kernel.web import run_service
from bobaku.services.analytics.bootstrap import build_app, rebuild_command, seed_history_command
from bobaku.services.analytics.service_layer.seed_history import MAX_DAYS
from bobaku.services.analytics.settings import AnalyticsSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bobaku.services.analytics")
    parser.add_argument(
        "command", nargs="?", default="serve", choices=("serve", "rebuild", "seed-history")
    )
    parser.add_argument("--days", type=int, default=365, help="seed-history: days before today")
    parser.add_argument("--scale", type=float, default=1.0, help="seed-history: demand x")
    parser.add_argument("--seed", type=int, default=7, help="seed-history: random seed")
    args = parser.parse_args(argv)
    if not 1 <= args.days <= MAX_DAYS:
        parser.error(f"--days must be between 1 and {MAX_DAYS}")
    if not 0 < args.scale <= 2:
        parser.error("--scale must be above 0 and at most 2")
    settings = AnalyticsSettings()
    configure_logging(settings.service_name, settings.log_level)
    if args.command == "rebuild":
        sys.exit(asyncio.run(rebuild_command(settings)))
    if args.command == "seed-history":
        sys.exit(asyncio.run(seed_history_command(settings, args.days, args.scale, args.seed)))
    run_service(build_app(settings))


if __name__ == "__main__":
    main()
