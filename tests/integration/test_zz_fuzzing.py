"""Schemathesis over the gateway's merged OpenAPI document and each service's own, on the
running platform, with a token of each role (and none).

For every operation a few generated requests, valid for the schema and not, each sent with
a role drawn from the examples: no answer is a 5xx, every status is one the operation
documents, and every body and content type matches the document. Hypothesis runs
derandomized (its seed is fixed by the test), so a failure reproduces on the next run.

The file's name sorts it after the other platform tests: it writes what it generates
(registrations, HQ catalog changes with random ids), and nothing after it reads that data.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support import RunningPlatform, call, eventually

from bobaku.kernel.auth import Role, TokenIssuer

SERVICES = ("customer", "menu", "order", "payment", "supply", "notification", "analytics")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Bounded to fit the suite: examples per operation and generation mode.
MAX_EXAMPLES = 4
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def role_tokens(issuer: TokenIssuer) -> dict[str, str | None]:
    fr, outlets = "fr-jakarta", ["outlet-01"]
    issue = issuer.issue
    return {
        "anonymous": None,
        "customer": issue("u-fz-customer", [Role.CUSTOMER]),
        "staff": issue("u-fz-staff", [Role.STAFF], franchise_id=fr, outlet_ids=outlets),
        "outlet_manager": issue(
            "u-fz-manager", [Role.OUTLET_MANAGER], franchise_id=fr, outlet_ids=outlets
        ),
        "franchise_owner": issue("u-fz-owner", [Role.FRANCHISE_OWNER], franchise_id=fr),
        "hq_admin": issue("u-fz-hq", [Role.HQ_ADMIN]),
        "service": issue("svc-fz", [Role.SERVICE]),
    }


def fuzz(doc: dict[str, Any], base_url: str, tokens: dict[str, str | None]) -> list[str]:
    """Every operation of ``doc``; the failures, one line each (run in a worker thread)."""
    schema = schemathesis.openapi.from_dict(doc)
    failures: list[str] = []
    session = requests.Session()
    roles = st.sampled_from(sorted(tokens))
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in MODES:
            test = _operation_test(operation, mode, roles, base_url, tokens, session, failures)
            try:
                test()
            except Unsatisfiable:
                continue  # nothing of this kind to generate (no negative for a free string)
            except (Exception, BaseExceptionGroup) as exc:  # each is reported; all run
                first = [line for line in str(exc).strip().splitlines() if line.strip()][:14]
                failures.append(f"{operation.label} ({mode.value}): " + " | ".join(first))
    return failures


def _operation_test(
    operation: Any,
    mode: GenerationMode,
    roles: st.SearchStrategy[str],
    base_url: str,
    tokens: dict[str, str | None],
    session: requests.Session,
    failures: list[str],
) -> Callable[[], None]:
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    @given(case=operation.as_strategy(generation_mode=mode), role=roles)
    def run(case: schemathesis.Case, role: str) -> None:
        headers = {"Idempotency-Key": secrets.token_hex(8)}
        if tokens[role]:
            headers["Authorization"] = f"Bearer {tokens[role]}"
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=15)
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:
            raise AssertionError(f"as {role}: {exc}") from exc

    return run


async def merged(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async def complete() -> dict[str, Any] | None:
        status, doc = await call(http, "GET", url)
        assert status == 200, doc
        return doc if not doc.get("x-unavailable") else None

    return await eventually(complete, timeout=60, interval=1.0)


@pytest.mark.timeout(400)
async def test_the_gateway_api_survives_fuzzing_within_its_contract(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    doc = await merged(http, f"{platform.gateway}/api/v1/openapi.json")
    failures = await asyncio.to_thread(fuzz, doc, platform.gateway, role_tokens(token_issuer))
    assert not failures, "\n".join(failures)


@pytest.mark.timeout(400)
async def test_each_service_api_survives_fuzzing_within_its_contract(
    platform: RunningPlatform, http: aiohttp.ClientSession, token_issuer: TokenIssuer
) -> None:
    tokens = role_tokens(token_issuer)
    failures: list[str] = []
    for name in SERVICES:
        status, doc = await call(http, "GET", f"{platform.url(name)}/openapi.json")
        assert status == 200, (name, doc)
        found = await asyncio.to_thread(fuzz, doc, platform.url(name), tokens)
        failures += [f"{name}: {line}" for line in found]
    assert not failures, "\n".join(failures)
