"""Headless Chromium for the page tests: Debian's ``chromium``, driven by ``playwright-core``
from ``e2e/browser/`` (installed when missing: the tests fail, never skip, if they cannot),
and a Node script spoken to in JSON lines (``e2e/browser/harness.mjs`` is its side)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support import call

ROOT = Path(__file__).resolve().parents[1]
BROWSER_DIR = ROOT / "e2e" / "browser"
CHROMIUM = Path(os.environ.get("BOBAKU_CHROMIUM", "/usr/bin/chromium"))
STEP_TIMEOUT_S = 60


def say(message: str) -> None:
    """Progress of the (slow, rare) installs."""
    print(f"[browser-test] {message}", file=sys.stderr, flush=True)


def run_visibly(command: list[str], cwd: Path | None = None) -> None:
    say("$ " + " ".join(command))
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        say("  " + line.rstrip())
    if process.wait() != 0:
        raise RuntimeError(f"{command[0]} exited with code {process.returncode}")


def ensure_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get): "
            "install Debian's `chromium` package (apt-get install -y chromium), or point "
            "BOBAKU_CHROMIUM at a Chromium executable",
            pytrace=False,
        )
    say(f"{CHROMIUM} is missing: installing Debian's chromium package")
    try:
        run_visibly(["apt-get", "update"])
        run_visibly(["apt-get", "install", "-y", "chromium"])
    except (OSError, RuntimeError) as exc:
        pytest.fail(f"could not install chromium with apt-get: {exc}", pytrace=False)
    if not CHROMIUM.exists():
        pytest.fail(f"apt-get installed chromium, yet {CHROMIUM} does not exist", pytrace=False)


def ensure_playwright() -> None:
    wanted = json.loads((BROWSER_DIR / "package.json").read_text())["dependencies"]
    installed = BROWSER_DIR / "node_modules" / "playwright-core" / "package.json"
    if (
        installed.exists()
        and json.loads(installed.read_text())["version"] == wanted["playwright-core"]
    ):
        return
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` (Node.js 20+) is needed to drive the browser", pytrace=False)
    say("installing playwright-core into e2e/browser/node_modules")
    try:
        # No lockfile: lockfiles embed registry URLs, which the repository must not hold.
        run_visibly(
            ["npm", "install", "--no-package-lock", "--no-audit", "--no-fund"], cwd=BROWSER_DIR
        )
    except (OSError, RuntimeError) as exc:
        pytest.fail(f"npm install in {BROWSER_DIR} failed: {exc}", pytrace=False)


async def login(http: aiohttp.ClientSession, gw: str, email: str, password: str) -> str:
    status, body = await call(
        http, "POST", f"{gw}/api/v1/auth/login", json={"email": email, "password": password}
    )
    assert status == 200, body
    return str(body["data"]["tokens"]["access_token"])


class Browser:
    """A Node script under ``e2e/browser/``, spoken to in JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process, artifacts: Path) -> None:
        self.process = process
        self.artifacts = artifacts
        self.transcript: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, script: str, artifacts: Path, **env: str) -> Browser:
        full = {
            **os.environ,
            **env,
            "ARTIFACTS": str(artifacts),
            "CHROMIUM": str(CHROMIUM),
            "STEP_TIMEOUT_MS": str(STEP_TIMEOUT_S * 1000),
        }
        stderr = (artifacts / "node.stderr.log").open("w")
        process = await asyncio.create_subprocess_exec(
            "node", str(BROWSER_DIR / script), cwd=BROWSER_DIR, env=full,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
        stderr.close()
        return cls(process, artifacts)

    async def next_event(self, *expected: str) -> dict[str, Any]:
        """The script's next event, which must be one of ``expected``."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + 3 * STEP_TIMEOUT_S
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(
                self.process.stdout.readline(), deadline - time.monotonic()
            )
            if not line:
                stderr = (self.artifacts / "node.stderr.log").read_text()[-3000:]
                pytest.fail(f"the browser script ended early; its stderr:\n{stderr}")
            if not line.startswith(b"{"):
                continue  # a stray line from a library: not ours
            event: dict[str, Any] = json.loads(line)
            self.transcript.append(event)
            if event["event"] == "failed":
                pytest.fail(
                    f"browser step {event['step']!r} failed: {event['message']}\n"
                    f"screenshots: {event.get('screenshots')}\n"
                    f"page errors: {event.get('page_errors')}\n"
                    f"console errors: {event.get('console_errors')}",
                    pytrace=False,
                )
            if event["event"] in expected:
                return event
        raise AssertionError(f"no {expected} from the browser; so far: {self.transcript}")

    async def send(self, cmd: str, **fields: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **fields}).encode() + b"\n")
        await self.process.stdin.drain()

    async def close(self) -> None:
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
