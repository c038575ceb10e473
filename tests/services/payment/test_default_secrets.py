"""A callback secret left at the default printed in docs/api/payment.md is refused outside
the explicit development modes (dev, test): the process does not start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from bobaku.services.payment.settings import PaymentSettings
from bobaku.services.provider_sim.settings import ProviderSimSettings

PROVIDERS = ("gopay", "ovo", "dana", "shopeepay", "qris", "card")
OWN_SECRETS = {f"provider_secret_{p}": f"s3cret-of-our-own-{p}" for p in PROVIDERS}


@pytest.mark.parametrize("settings_class", [PaymentSettings, ProviderSimSettings])
@pytest.mark.parametrize("environment", ["production", "staging"])
def test_a_documented_default_secret_refuses_the_start(
    settings_class: type[PaymentSettings | ProviderSimSettings], environment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_class(environment=environment)
    message = str(caught.value)
    assert "PROVIDER_SECRET_GOPAY" in message
    assert "PROVIDER_SECRET_CARD" in message
    # One left at its default is enough to refuse.
    with pytest.raises(ValidationError, match="PROVIDER_SECRET_QRIS"):
        settings_class(
            environment=environment, **{**OWN_SECRETS, "provider_secret_qris": "dev-secret-qris"}
        )
    own = settings_class(environment=environment, **OWN_SECRETS)
    assert own.secret_of("gopay") == b"s3cret-of-our-own-gopay"


@pytest.mark.parametrize("environment", ["dev", "test"])
def test_the_development_modes_keep_the_documented_defaults(environment: str) -> None:
    assert PaymentSettings(environment=environment).secret_of("ovo") == b"dev-secret-ovo"


def test_without_environment_a_process_is_in_production_and_does_not_start() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENVIRONMENT", "PROVIDER_"))}
    env["HTTP_PORT"] = "0"
    started = subprocess.run(
        [sys.executable, "-m", "bobaku.services.payment"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "ENVIRONMENT=production refuses the documented development default" in started.stderr
