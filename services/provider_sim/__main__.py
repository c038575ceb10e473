"""``python -m bobaku.services.provider_sim``: serve the simulated payment providers."""

from __future__ import annotations

from bobaku.kernel.telemetry import configure_logging
from bobaku.kernel.web import run_service
from bobaku.services.provider_sim.bootstrap import build_app
from bobaku.services.provider_sim.settings import ProviderSimSettings


def main() -> None:
    settings = ProviderSimSettings()
    configure_logging(settings.service_name, settings.log_level)
    run_service(build_app(settings))


if __name__ == "__main__":
    main()
