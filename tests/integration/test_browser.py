"""The kitchen display and order tracking pages in a real browser, on the whole platform.

Headless Chromium (Debian's ``chromium``, driven by ``playwright-core`` from
``e2e/browser/``) logs into the KDS as the demo barista of outlet-01; this test places the
demo customer's orders through the gateway at the moments the browser asks for them; the
barista bumps the ticket and the customer's tracking page turns ``ready``. Then the KDS's
link to the hub is cut while an order is placed, and the page is reloaded while another is:
each ticket must show exactly once. A blender order, then another reload: the station filter
shows each ticket by the station it came back with. A bumped ticket is recalled. Last, a
second screen whose clock the script holds (Playwright's fake clock, no waiting) shows a
ticket plain, amber and red as its age passes the thresholds. Screenshots land in
``.run/test-artifacts/browser/``.

The two sides talk in JSON lines (see ``e2e/browser/kitchen_flow.mjs``): the script says
where it is (``kds_ready``, ``kds_offline``, ``kds_reloading``, ``kds_stations``, then
``done`` or ``failed``), and this test answers each with ``{"cmd": "watch", "order_id": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support import RunningPlatform, call, eventually

from bobaku.kernel.auth import Role, TokenIssuer

ROOT = Path(__file__).resolve().parents[2]
BROWSER_DIR = ROOT / "e2e" / "browser"
SCRIPT = BROWSER_DIR / "kitchen_flow.mjs"
ARTIFACTS = ROOT / ".run" / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("BOBAKU_CHROMIUM", "/usr/bin/chromium"))

STAFF = ("staff.outlet-01@bobaku.id", "bobaku-demo-123")
CUSTOMER = ("rina@example.com", "bobaku-demo-123")
ITEM = "Brown Sugar Boba Milk Tea"
TOPPINGS = ("Pearl", "Cheese Foam")
KITCHEN = "outlet:outlet-01:kitchen"
HISTORY = (
    "Menunggu pembayaran · Awaiting payment",
    "Dibayar · Paid",
    "Sedang disiapkan · Being prepared",
    "Siap diambil · Ready for pickup",
)
STEP_TIMEOUT_S = 60
ORDER = {
    "outlet_id": "outlet-01",
    "items": [
        {
            "menu_id": "m001",
            "quantity": 2,
            "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": ["t001", "t003"]},
        }
    ],
    "payment_method": "gopay",
}
# A drink of another station (the blender's), for the station filter.
BLEND_ITEM = "Taro Boba Smoothie"
BLEND_ORDER = {**ORDER, "items": [{"menu_id": "m020", "quantity": 1}]}


# -- the tools: Chromium from Debian, playwright-core from npm ------------------------------


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


# -- the platform side ---------------------------------------------------------------------


async def login(http: aiohttp.ClientSession, gw: str, email: str, password: str) -> str:
    status, body = await call(
        http, "POST", f"{gw}/api/v1/auth/login", json={"email": email, "password": password}
    )
    assert status == 200, body
    return str(body["data"]["tokens"]["access_token"])


async def place_order(
    http: aiohttp.ClientSession,
    platform: RunningPlatform,
    token: str,
    wait: bool = True,
    order: dict[str, Any] = ORDER,
) -> str:
    """The brief's order (2 Brown Sugar Boba Milk Tea, 50% sugar, 30% ice, pearl and cheese
    foam) unless told another, paid with GoPay, which the simulator settles."""
    gw = platform.gateway
    status, reply = await call(
        http, "POST", f"{platform.url('provider-sim')}/_control/gopay/next",
        json={"outcome": "success", "delay_s": 0.2},
    )  # fmt: skip
    assert status in (200, 201), reply
    status, placed = await call(
        http, "POST", f"{gw}/api/v1/orders", token, json=order,
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )  # fmt: skip
    assert status == 201, placed
    order_id = str(placed["data"]["id"])

    async def being_prepared() -> bool:
        status, body = await call(http, "GET", f"{gw}/api/v1/orders/{order_id}", token)
        assert status == 200, body
        return bool(body["data"]["order"]["status"]["current"] == "being_prepared")

    if wait:
        await eventually(being_prepared, timeout=STEP_TIMEOUT_S, interval=0.2)
    return order_id


class KitchenFeed:
    """The outlet's kitchen channel, followed from here: proof that the hub has routed a
    publication (so a KDS that was offline meanwhile must recover it)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: set[tuple[str, str]] = set()

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, hub: str, token: str) -> KitchenFeed:
        ws = await http.ws_connect(f"{hub.replace('http', 'ws', 1)}/ws")
        feed = cls(ws)
        assert "result" in await feed.command(
            1, {"op": "connect", "token": token, "name": "test probe"}
        )
        assert "result" in await feed.command(2, {"op": "subscribe", "channel": KITCHEN})
        return feed

    async def command(self, command_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        await self.ws.send_json({"id": command_id, **fields})
        while True:
            frame = await self.next_frame()
            if frame.get("id") == command_id:
                return frame

    async def next_frame(self) -> dict[str, Any]:
        frame: dict[str, Any] = await self.ws.receive_json(timeout=STEP_TIMEOUT_S)
        if frame.get("type") == "ping":
            await self.ws.send_json({"op": "pong"})
        elif frame.get("type") == "pub":
            event = frame["data"]
            self.seen.add((event["type"], event["data"].get("order_id", "")))
        return frame

    async def wait_for(self, event_type: str, order_id: str) -> None:
        async def routed() -> bool:
            while (event_type, order_id) not in self.seen:
                await self.next_frame()
            return True

        await asyncio.wait_for(routed(), STEP_TIMEOUT_S)


async def recoveries(http: aiohttp.ClientSession, hub: str) -> float:
    async with http.get(f"{hub}/metrics") as resp:
        text = await resp.text()
    found = re.search(r'^bobaku_hub_recoveries_total\{outcome="recovered"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


# -- the browser side ------------------------------------------------------------------------


class Browser:
    """The Node script, spoken to in JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.transcript: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, hub: str) -> Browser:
        env = {
            **os.environ,
            "HUB_URL": hub,
            "STAFF_EMAIL": STAFF[0],
            "STAFF_PASSWORD": STAFF[1],
            "CUSTOMER_EMAIL": CUSTOMER[0],
            "CUSTOMER_PASSWORD": CUSTOMER[1],
            "ARTIFACTS": str(ARTIFACTS),
            "CHROMIUM": str(CHROMIUM),
            "STEP_TIMEOUT_MS": str(STEP_TIMEOUT_S * 1000),
        }
        stderr = (ARTIFACTS / "node.stderr.log").open("w")
        process = await asyncio.create_subprocess_exec(
            "node", str(SCRIPT), cwd=BROWSER_DIR, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
        stderr.close()
        return cls(process)

    async def next_event(self, *expected: str) -> dict[str, Any]:
        """The script's next event, which must be one of ``expected``."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + 3 * STEP_TIMEOUT_S
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(
                self.process.stdout.readline(), deadline - time.monotonic()
            )
            if not line:
                stderr = (ARTIFACTS / "node.stderr.log").read_text()[-3000:]
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

    async def watch(
        self, order_id: str, item: str = ITEM, toppings: tuple[str, ...] = TOPPINGS
    ) -> None:
        assert self.process.stdin is not None
        command = {"cmd": "watch", "order_id": order_id, "item": item, "toppings": toppings}
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()

    async def close(self) -> None:
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


# -- the test --------------------------------------------------------------------------------


@pytest.mark.timeout(300)
async def test_a_barista_bumps_an_order_on_the_kitchen_display_and_the_customer_sees_it_ready(
    platform: RunningPlatform,
    http: aiohttp.ClientSession,
    token_issuer: TokenIssuer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with capsys.disabled():  # installs are slow: show their progress as it happens
        await asyncio.to_thread(ensure_chromium)
        await asyncio.to_thread(ensure_playwright)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    hub = platform.url("hub")
    customer = await login(http, platform.gateway, *CUSTOMER)
    barista = token_issuer.issue(
        "u-kitchen-probe", [Role.STAFF], franchise_id="fr-jakarta", outlet_ids=["outlet-01"]
    )
    feed = await KitchenFeed.open(http, hub, barista)
    browser = await Browser.start(hub)
    try:
        await browser.next_event("kds_ready")
        # The KDS is live before the order exists: the ticket must come to it live.
        first = await place_order(http, platform, customer, wait=False)
        await browser.watch(first)

        await browser.next_event("kds_offline")
        recovered_before = await recoveries(http, hub)
        second = await place_order(http, platform, customer)
        await feed.wait_for("order.being_prepared", second)
        await browser.watch(second)

        await browser.next_event("kds_reloading")
        third = await place_order(http, platform, customer)
        await feed.wait_for("order.being_prepared", third)
        await browser.watch(third)

        await browser.next_event("kds_stations")
        blend = await place_order(http, platform, customer, order=BLEND_ORDER)
        await browser.watch(blend, BLEND_ITEM, ())

        result = await browser.next_event("done")
    finally:
        await browser.close()
        await feed.ws.close()
    (ARTIFACTS / "result.json").write_text(json.dumps(result, indent=2))

    # The ticket came in with its item and customizations, and the bump moved it to ready.
    [before] = result["before_bump"]
    assert before["rail"] == "preparing"
    assert f"2\N{MULTIPLICATION SIGN} {ITEM}" in before["text"]
    assert re.search(r"sugar 50%(?!%)", before["text"]), before["text"]
    assert re.search(r"ice 30%(?!%)", before["text"]), before["text"]
    assert "Pearl, Cheese Foam" in before["text"]
    assert before["button"] == "Bump → ready"
    [after] = result["after_bump"]
    assert after["rail"] == "ready"
    assert after["button"] == "Recall"
    status, order = await call(http, "GET", f"{platform.gateway}/api/v1/orders/{first}", customer)
    assert status == 200, order
    assert order["data"]["order"]["status"]["current"] == "ready"

    # The customer's page followed live, and shows the way there.
    tracking = result["tracking"]
    assert result["tracking_before"]["state"].startswith("Sedang disiapkan")
    assert tracking["state"] == "Siap diambil · Ready for pickup"
    assert tracking["title"] == f"Order #{first.split('-')[-1].upper()}"
    assert tracking["steps_done"] == [
        "Awaiting payment",
        "Paid",
        "Being prepared",
        "Ready for pickup",
    ]
    # Each entry is "<local time> <label>", oldest first, each step once.
    history = tracking["history"]
    assert len(history) == len(HISTORY), history
    assert all(entry.endswith(label) for entry, label in zip(history, HISTORY, strict=True))
    assert tracking["hub"] == "live"

    # A dropped link and a reload lose no ticket and show none twice.
    assert result["status_while_down"] != "live"
    assert result["reconnects"] >= 1
    assert await recoveries(http, hub) > recovered_before, "the KDS did not resume via recovery"
    for moment, orders in (
        ("after_drop", (first, second)),
        ("after_reload", (first, second, third)),
    ):
        shown = result[moment]["all"]
        for order_id in orders:
            assert shown.count(order_id) == 1, (moment, order_id, shown)
        assert len(shown) == len(set(shown)), (moment, shown)
    assert [t["rail"] for t in result["after_drop"]["first"]] == ["ready"]
    assert [t["rail"] for t in result["after_drop"]["second"]] == ["preparing"]
    assert [t["rail"] for t in result["after_reload"]["first"]] == ["ready"]
    assert [t["rail"] for t in result["after_reload"]["second"]] == ["preparing"]
    assert [t["rail"] for t in result["after_reload"]["third"]] == ["preparing"]

    # The station filter works on tickets loaded after a reload: each keeps its station.
    stations = result["stations"]
    assert {"blender", "toppings", "tea_bar"} <= set(stations["options"]), stations["options"]
    [blend_ticket] = stations["blend_after_reload"]
    assert blend_ticket["rail"] == "preparing"
    assert f"1\N{MULTIPLICATION SIGN} {BLEND_ITEM}" in blend_ticket["text"]
    assert "blender" in blend_ticket["text"]  # the line's station tag, from the HTTP ticket
    assert stations["blender"] == [blend]
    assert sorted(stations["toppings"]) == sorted([first, second, third])
    assert sorted(stations["all"]) == sorted([first, second, third, blend])

    # Recall: the bumped ticket came back to preparing with its SLA clock kept.
    recall = result["recall"]
    assert [t["rail"] for t in recall["bumped"]] == ["ready"]
    assert [(t["rail"], t["button"]) for t in recall["recalled"]] == [("preparing", "Bump → ready")]
    assert recall["start_kept"] is True
    status, recalled = await call(
        http, "GET", f"{platform.gateway}/api/v1/orders/{second}", customer
    )
    assert status == 200, recalled
    assert recalled["data"]["order"]["status"]["current"] == "being_prepared"
    assert [h["status"] for h in recalled["data"]["order"]["status"]["history"]][-2:] == [
        "ready",
        "being_prepared",
    ]

    # SLA colours by the held clock: none just before amber, amber past it, red past target.
    sla = result["sla"]

    def clock(ms: int) -> str:
        return f"{ms // 60000}:{ms // 1000 % 60:02d}"

    assert sla["fresh"]["timer"] == clock(sla["warn_ms"] - 10000)
    assert not {"warn", "late"} & set(sla["fresh"]["classes"]), sla["fresh"]
    assert sla["amber"]["timer"] == clock(sla["warn_ms"] + 10000)
    assert "warn" in sla["amber"]["classes"]
    assert "late" not in sla["amber"]["classes"]
    assert sla["amber"]["border"] == "rgb(245, 166, 35)"  # --warn
    assert sla["red"]["timer"] == clock(sla["target_ms"] + 10000)
    assert "late" in sla["red"]["classes"]
    assert "warn" not in sla["red"]["classes"]
    assert sla["red"]["border"] == "rgb(208, 49, 45)"  # --late

    assert result["page_errors"] == []
    for name in ("kds-before-bump", "kds-after-bump", "tracking-ready"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 5000
