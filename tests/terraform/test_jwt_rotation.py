"""The JWT-key rotation Lambda (terraform/modules/secrets/rotation/jwt_keys.py).

Secrets Manager is a cloud edge, so a small in-memory stand-in plays it: versions with
staging labels, and the four calls of the rotation protocol in the order Secrets Manager
makes them (it reserves the new version as AWSPENDING, without a value, before createSecret).
The keys are real Ed25519 keys, loaded with the kernel's own key loader.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from types import ModuleType
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from terraform_testkit import ROOT

from bobaku.kernel.auth import load_public_key

ARN = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:bobaku-test/jwt-signing-key"


class ResourceNotFoundError(Exception):
    pass


class FakeSecretsManager:
    class exceptions:
        ResourceNotFoundException = ResourceNotFoundError

    def __init__(self) -> None:
        self.values: dict[str, str | None] = {"v0": "{}"}
        self.stages: dict[str, set[str]] = {"v0": {"AWSCURRENT"}}

    def begin_rotation(self) -> str:
        token = str(uuid.uuid4())
        self.values[token] = None
        self.stages[token] = {"AWSPENDING"}
        return token

    def describe_secret(self, SecretId: str) -> dict[str, Any]:
        assert SecretId == ARN
        return {
            "RotationEnabled": True,
            "VersionIdsToStages": {v: sorted(s) for v, s in self.stages.items() if s},
        }

    def get_secret_value(
        self,
        SecretId: str,
        VersionStage: str,
        VersionId: str | None = None,
    ) -> dict[str, str]:
        for version, stages in self.stages.items():
            if VersionStage in stages and VersionId in (None, version):
                value = self.values[version]
                if value is None:
                    break
                return {"SecretString": value, "VersionId": version}
        raise ResourceNotFoundError(VersionStage)

    def put_secret_value(
        self,
        SecretId: str,
        ClientRequestToken: str,
        SecretString: str,
        VersionStages: list[str],
    ) -> None:
        self.values[ClientRequestToken] = SecretString
        self.stages.setdefault(ClientRequestToken, set()).update(VersionStages)

    def update_secret_version_stage(
        self,
        SecretId: str,
        VersionStage: str,
        MoveToVersionId: str,
        RemoveFromVersionId: str,
    ) -> None:
        self.stages[RemoveFromVersionId].discard(VersionStage)
        self.stages[MoveToVersionId].add(VersionStage)
        self.stages[MoveToVersionId].discard("AWSPENDING")

    def current(self) -> dict[str, str]:
        return json.loads(self.get_secret_value(ARN, "AWSCURRENT")["SecretString"])  # type: ignore[no-any-return]


@pytest.fixture
def rotation(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, FakeSecretsManager]:
    path = ROOT / "terraform" / "modules" / "secrets" / "rotation" / "jwt_keys.py"
    spec = importlib.util.spec_from_file_location("jwt_keys", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fake = FakeSecretsManager()
    monkeypatch.setattr(module, "client", fake)
    return module, fake


def rotate(module: ModuleType, fake: FakeSecretsManager) -> str:
    token = fake.begin_rotation()
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"]:
        module.handler({"SecretId": ARN, "ClientRequestToken": token, "Step": step}, None)
    return token


def signs_and_verifies(value: dict[str, str]) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(value["private_pem"].encode(), password=None)
    public = load_public_key(value["public_pem"].encode())
    public.verify(key.sign(b"m"), b"m")  # type: ignore[call-arg, union-attr, arg-type]


def test_first_rotation_replaces_the_placeholder_with_a_key_pair(
    rotation: tuple[ModuleType, FakeSecretsManager],
) -> None:
    module, fake = rotation
    token = rotate(module, fake)
    assert fake.stages[token] == {"AWSCURRENT"}
    assert fake.stages["v0"] == set()
    current = fake.current()
    assert current["kid"].startswith("k")
    assert "previous_kid" not in current
    signs_and_verifies(current)


def test_next_rotation_keeps_the_previous_public_key(
    rotation: tuple[ModuleType, FakeSecretsManager],
) -> None:
    module, fake = rotation
    rotate(module, fake)
    first = fake.current()
    rotate(module, fake)
    second = fake.current()
    assert second["kid"] != first["kid"]
    assert second["public_pem"] != first["public_pem"]
    assert second["previous_kid"] == first["kid"]
    assert second["previous_public_pem"] == first["public_pem"]
    signs_and_verifies(second)


def test_a_retried_create_keeps_the_staged_key(
    rotation: tuple[ModuleType, FakeSecretsManager],
) -> None:
    module, fake = rotation
    token = fake.begin_rotation()
    event = {"SecretId": ARN, "ClientRequestToken": token, "Step": "createSecret"}
    module.handler(event, None)
    staged = fake.values[token]
    module.handler(event, None)
    assert fake.values[token] == staged


def test_a_pending_pair_that_does_not_match_fails_the_test_step(
    rotation: tuple[ModuleType, FakeSecretsManager],
) -> None:
    module, fake = rotation
    rotate(module, fake)
    other = module.new_key(None)
    token = fake.begin_rotation()
    module.handler({"SecretId": ARN, "ClientRequestToken": token, "Step": "createSecret"}, None)
    pending = json.loads(fake.values[token] or "")
    pending["public_pem"] = other["public_pem"]
    fake.values[token] = json.dumps(pending)
    before = fake.current()
    with pytest.raises(InvalidSignature):
        module.handler({"SecretId": ARN, "ClientRequestToken": token, "Step": "testSecret"}, None)
    assert fake.current() == before
    assert "AWSCURRENT" not in fake.stages[token]


def test_a_version_not_pending_is_refused(rotation: tuple[ModuleType, FakeSecretsManager]) -> None:
    module, fake = rotation
    fake.stages["stray"] = {"AWSPREVIOUS"}
    fake.values["stray"] = "{}"
    with pytest.raises(ValueError, match="not pending"):
        module.handler(
            {"SecretId": ARN, "ClientRequestToken": "stray", "Step": "createSecret"}, None
        )
