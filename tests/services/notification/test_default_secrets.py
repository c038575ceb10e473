"""The unsubscribe-link signing key and the push credential are secrets: left at the default
printed in the docs they refuse the start outside the explicit development modes (dev, test),
in the notification service and in the push simulator alike."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from bobaku.services.notification.settings import NotificationSettings
from bobaku.services.push_sim.settings import PushSimSettings

OWN = {"notification_signing_key": "a-key-of-our-own-48-chars", "push_credential": "own-cred"}


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_the_documented_signing_key_or_push_credential_refuses_the_start(environment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        NotificationSettings(environment=environment)
    assert "NOTIFICATION_SIGNING_KEY" in str(caught.value)
    assert "PUSH_CREDENTIAL" in str(caught.value)
    # Either one left at its default is enough to refuse.
    for name in OWN:
        with pytest.raises(ValidationError, match=name.upper()):
            NotificationSettings(
                environment=environment, **{k: v for k, v in OWN.items() if k != name}
            )
    with pytest.raises(ValidationError, match="PUSH_CREDENTIAL"):
        PushSimSettings(environment=environment)
    own = NotificationSettings(environment=environment, **OWN)
    assert own.notification_signing_key.get_secret_value() == OWN["notification_signing_key"]
    assert "own-cred" not in repr(own)  # a secret never shows in a log line or a traceback
    sim = PushSimSettings(environment=environment, push_credential="own-cred")
    assert sim.push_credential.get_secret_value() == "own-cred"


@pytest.mark.parametrize("environment", ["dev", "test"])
def test_the_development_modes_keep_the_documented_defaults(environment: str) -> None:
    settings = NotificationSettings(environment=environment)
    assert settings.push_credential.get_secret_value() == "dev-push-credential"
    assert PushSimSettings(environment=environment).push_credential == settings.push_credential


def test_a_short_signing_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="notification_signing_key"):
        NotificationSettings(environment="test", notification_signing_key="short")


@pytest.mark.parametrize("module", ["notification", "push_sim"])
def test_without_environment_the_process_is_in_production_and_does_not_start(module: str) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ENVIRONMENT", "PUSH_", "NOTIFICATION_SIGNING"))
    }
    env["HTTP_PORT"] = "0"
    started = subprocess.run(
        [sys.executable, "-m", f"bobaku.services.{module}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "ENVIRONMENT=production refuses the documented development default" in started.stderr
    assert "PUSH_CREDENTIAL" in started.stderr
