"""The pages' own protocol client (``hub/static/hub-client.js``), run by Node against a real
hub: when its connection drops, it reconnects and resumes, and the page sees every
publication once, in order. (The browser test of the screens comes with the ordering
services; this checks the client code the screens are built on.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hub_testing import HubProcess, Producers, Tokens, new_id

CLIENT_JS = Path(__file__).resolve().parents[2] / "hub" / "static" / "hub-client.js"

# A page in miniature: the globals a browser gives hub-client.js, one subscription whose
# publications and reloads are printed as JSON lines, and "drop" on stdin to cut the link.
PAGE = """
const [url, token, channel, clientPath] = process.argv.slice(2);
globalThis.window = globalThis;
globalThis.location = { protocol: "http:", host: "unused" };
globalThis.BOBAKU_CONFIG = { hubWsUrl: url };
require(clientPath);
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\\n");
const hub = new window.Bobaku.HubConnection({
  getToken: async () => token,
  name: "probe",
  onStatus: (status) => say({ status }),
});
hub.subscribe(channel, {
  onPublication: (data, offset) => say({ pub: data.id, offset }),
  onReload: (reason) => say({ reload: reason }),
});
hub.start();
require("readline").createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "drop") hub.ws.close(4000, "test: link dropped");
  if (line === "stop") { hub.stop(); process.exit(0); }
});
"""

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")


class Page:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            await self.lines.put(json.loads(line))
        await self.lines.put(None)  # the page has ended

    async def next_line(self) -> dict[str, Any]:
        """The page's next line, however long the page (Node, the hub, NATS: all slower on a
        loaded machine) takes to print it; an AssertionError once the page has ended. A page
        that hangs is stopped by the test's own timeout."""
        line = await self.lines.get()
        if line is None:
            self.lines.put_nowait(None)
            raise AssertionError(f"the page ended (exit status {await self.proc.wait()})")
        return line

    async def expect(self, key: str, value: Any = None) -> dict[str, Any]:
        while True:
            line = await self.next_line()
            if key in line and (value is None or line[key] == value):
                return line

    async def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()


@pytest.fixture
async def open_page(tmp_path: Path) -> AsyncIterator[Any]:
    script = tmp_path / "page.js"
    script.write_text(PAGE)
    pages: list[Page] = []

    async def start(hub: HubProcess, token: str, channel: str) -> Page:
        proc = await asyncio.create_subprocess_exec(
            "node", "--experimental-websocket", "--no-warnings", str(script),
            hub.ws_url, token, channel, str(CLIENT_JS),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        page = Page(proc)
        pages.append(page)
        return page

    yield start
    for page in pages:
        with contextlib.suppress(Exception):
            await page.send("stop")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(page.proc.wait(), 5)
        if page.proc.returncode is None:
            page.proc.kill()


async def test_after_a_dropped_link_the_page_sees_every_publication_once_in_order(
    steady_hub: HubProcess, open_page: Any, tokens: Tokens, producers: Producers
) -> None:
    # The steady hub: with replica A's 1 s heartbeat, a page whose pong is late on a loaded
    # machine is dropped and reconnects again and again, besides the drop this test makes.
    franchise, outlet = new_id("fr"), new_id("outlet")
    channel = f"outlet:{outlet}:kitchen"
    page: Page = await open_page(steady_hub, tokens.staff(outlet, franchise), channel)
    assert (await page.expect("reload"))["reload"] == "initial"
    sent = []
    for n in range(10):
        event = await producers.order_event(
            franchise, new_id("ord"), "order.being_prepared", outlet_id=outlet, n=n
        )
        sent.append(event.id)
    for event_id in sent:
        await page.expect("pub", event_id)

    await page.send("drop")
    await page.expect("status", "offline")
    for n in range(40):  # while the page is away (it waits ≥ 0.375 s before reconnecting)
        event = await producers.order_event(
            franchise, new_id("ord"), "order.ready", outlet_id=outlet, n=n
        )
        sent.append(event.id)
    seen: list[str] = []
    while len(seen) < 40:
        line = await page.next_line()
        assert "reload" not in line, line  # resumed, not reloaded
        if "pub" in line:
            seen.append(line["pub"])
    assert seen == sent[10:]
    marker = await producers.order_event(franchise, new_id("ord"), "order.ready", outlet_id=outlet)
    line = await page.expect("pub")
    assert line["pub"] == marker.id
