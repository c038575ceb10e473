"""Helpers for tests that wait on real servers and processes."""

from __future__ import annotations

import asyncio
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], *, timeout: float = 10.0, interval: float = 0.05
) -> T:
    """Poll ``probe`` until it returns a truthy value; fail with its last value or error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = await probe()
        except AssertionError as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last result: {last!r}")


async def delete_deployment(js: Any, names: Any) -> None:
    """Delete every stream and key-value bucket of a test's own deployment (kernel/names.py)."""
    assert names.isolated, "the default deployment's streams are the suite's"
    owned = (names.stream(""), f"KV_{names.bucket('')}")
    for info in await js.streams_info():
        if (info.config.name or "").startswith(owned):
            await js.delete_stream(info.config.name)


def free_port() -> int:
    """A free port below the kernel's ephemeral range (32768+), where outgoing connections
    could otherwise take it between our check and the server's bind."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found in 20000-32000")


def seed_order_data(**overrides: Any) -> dict[str, Any]:
    """The ``order.created`` data of the brief's example event."""
    data: dict[str, Any] = {
        "order_id": "ord-20231015-789",
        "user_id": "u456",
        "outlet_id": "outlet-23",
        "items": [
            {
                "menu_id": "m001",
                "quantity": 2,
                "customizations": {
                    "sugar_level": 50,
                    "ice_level": 30,
                    "toppings": ["t001", "t003"],
                },
            }
        ],
        "total_amount": 82000,
        "payment_method": "gopay",
        "status": "pending_payment",
    }
    data.update(overrides)
    return data


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None = None,
    **kw: Any,
) -> tuple[int, Any]:
    headers = dict(kw.pop("headers", {}))
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(method, url, headers=headers, **kw) as resp:
        try:
            return resp.status, await resp.json()
        except aiohttp.ContentTypeError:
            return resp.status, await resp.text()


async def customer_token(http: aiohttp.ClientSession, gw: str) -> str:
    """A newly registered customer's access token, through the gateway."""
    email = f"cust-{secrets.token_hex(5)}@example.com"
    status, body = await call(
        http, "POST", f"{gw}/api/v1/auth/register",
        json={"email": email, "password": "boba-lover-99", "name": "Rina Test", "language": "id"},
    )  # fmt: skip
    assert status == 201, body
    return str(body["data"]["tokens"]["access_token"])


ARTIFACTS = Path(__file__).resolve().parents[1] / ".run" / "test-artifacts" / "platform"


@dataclass
class RunningPlatform:
    platform: Any
    gateway: str
    envs: dict[str, dict[str, str]]
    ports: dict[str, int]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"
