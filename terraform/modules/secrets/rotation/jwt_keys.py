"""Secrets Manager rotation function for BobaKu's JWT signing key.

The secret holds JSON: ``kid``, ``private_pem`` (PKCS#8, Ed25519), ``public_pem``, and the
previous key's ``previous_kid``/``previous_public_pem`` so verifiers can accept tokens signed
just before a rotation. The four steps are Secrets Manager's rotation protocol:
createSecret stages a new key pair as AWSPENDING, setSecret has nothing to push (the
key lives only in the secret; External Secrets syncs it into the cluster), testSecret checks
that the pending pair signs and verifies, finishSecret moves AWSCURRENT to it.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# The Secrets Manager client, made on first use (boto3 comes with the Lambda runtime).
client: Any = None


def secretsmanager() -> Any:
    global client
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    return client


def new_key(previous: dict[str, Any] | None) -> dict[str, str]:
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    value = {
        "kid": time.strftime("k%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(2),
        "private_pem": private_pem,
        "public_pem": public_pem,
    }
    if previous:
        value["previous_kid"] = previous.get("kid", "")
        value["previous_public_pem"] = previous.get("public_pem", "")
    return value


def current(arn: str) -> dict[str, Any] | None:
    try:
        raw = secretsmanager().get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")[
            "SecretString"
        ]
    except secretsmanager().exceptions.ResourceNotFoundException:
        return None
    try:
        parsed: dict[str, Any] = json.loads(raw)
    except ValueError:
        return None  # the placeholder written by Terraform before the first rotation
    return parsed


def create_secret(arn: str, token: str) -> None:
    try:
        secretsmanager().get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        return  # already staged by an earlier attempt
    except secretsmanager().exceptions.ResourceNotFoundException:
        pass
    secretsmanager().put_secret_value(
        SecretId=arn,
        ClientRequestToken=token,
        SecretString=json.dumps(new_key(current(arn))),
        VersionStages=["AWSPENDING"],
    )


def test_secret(arn: str, token: str) -> None:
    pending = json.loads(
        secretsmanager().get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")[
            "SecretString"
        ]
    )
    key = serialization.load_pem_private_key(pending["private_pem"].encode(), password=None)
    public = serialization.load_pem_public_key(pending["public_pem"].encode())
    message = b"bobaku-rotation-check"
    public.verify(key.sign(message), message)


def finish_secret(arn: str, token: str) -> None:
    metadata = secretsmanager().describe_secret(SecretId=arn)
    for version, stages in metadata["VersionIdsToStages"].items():
        if "AWSCURRENT" in stages:
            if version == token:
                return
            secretsmanager().update_secret_version_stage(
                SecretId=arn,
                VersionStage="AWSCURRENT",
                MoveToVersionId=token,
                RemoveFromVersionId=version,
            )
            return


def handler(event: dict[str, str], _context: object) -> None:
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    metadata = secretsmanager().describe_secret(SecretId=arn)
    if not metadata.get("RotationEnabled"):
        raise ValueError(f"rotation is not enabled for {arn}")
    stages = metadata["VersionIdsToStages"].get(token)
    if stages is None:
        raise ValueError(f"version {token} of {arn} has no stage")
    if "AWSCURRENT" in stages:
        return
    if "AWSPENDING" not in stages:
        raise ValueError(f"version {token} of {arn} is not pending rotation")
    if step == "createSecret":
        create_secret(arn, token)
    elif step == "setSecret":
        return
    elif step == "testSecret":
        test_secret(arn, token)
    elif step == "finishSecret":
        finish_secret(arn, token)
    else:
        raise ValueError(f"unknown step {step}")
