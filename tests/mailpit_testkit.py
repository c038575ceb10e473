"""A real Mailpit for the tests: its own process on free ports, stopped and started at will
(the "SMTP is down" test), read through its HTTP API."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
from support import eventually, free_port

ROOT = Path(__file__).resolve().parents[1]


def mailpit_binary() -> str:
    """The cached build from scripts/infra.sh (built there on first use)."""
    out = subprocess.run(
        [str(ROOT / "scripts" / "infra.sh"), "mailpit-bin"],
        check=True, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


class Mailpit:
    def __init__(self, binary: str, log: Path) -> None:
        self.binary = binary
        self.smtp_port = free_port()
        self.http_port = free_port()
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    async def start(self) -> None:
        with self.log.open("a") as out:
            self.proc = await asyncio.create_subprocess_exec(
                self.binary,
                "--smtp", f"127.0.0.1:{self.smtp_port}",
                "--listen", f"127.0.0.1:{self.http_port}",
                "--smtp-auth-accept-any", "--smtp-auth-allow-insecure",
                "--disable-version-check", "--quiet",
                stdout=out, stderr=out,
            )  # fmt: skip
        await eventually(self._ready, timeout=30, interval=0.1)

    async def _ready(self) -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{self.url}/readyz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    async def messages_to(self, address: str) -> list[dict[str, Any]]:
        """Summaries (ID, Subject, ...) of the messages to ``address``, oldest first."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.url}/api/v1/search", params={"query": f'to:"{address}"'}) as r,
        ):
            body = await r.json()
        return list(reversed(body.get("messages") or []))

    async def message(self, message_id: str) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.url}/api/v1/message/{message_id}") as r:
                body: dict[str, Any] = await r.json()
            async with http.get(f"{self.url}/api/v1/message/{message_id}/headers") as r:
                body["Headers"] = await r.json()
        return body
