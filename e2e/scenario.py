"""The end-to-end scenario, step by step; each step is one subcommand.

    python e2e/scenario.py onboard  --kubeconfig K [--examples docs/examples] [--available]
    python e2e/scenario.py order    --gateway URL --hub URL --token-file F --outlet ID
    python e2e/scenario.py offboard --kubeconfig K [--examples docs/examples]

``onboard`` applies the example Franchise and Outlets and waits until the operator reports
them Ready (and, with ``--available``, until the franchise's pods serve). ``order`` places
an order through the gateway and watches it on the hub. ``offboard`` deletes them again.

The local test suite runs ``onboard`` and ``offboard`` against its own control plane
(``tests/operator/test_e2e_scenario.py``); ``e2e/run.sh`` runs all three on kind.
Run it as a script (``python e2e/scenario.py``), never from inside ``operator/``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bobaku.operator.envtest import load_manifests
from bobaku.operator.kube import Credentials, Kube, Manifest

API = "bobaku.io/v1alpha1"
ROOT = Path(__file__).resolve().parents[1]


def say(step: str, **fields: Any) -> None:
    print(json.dumps({"step": step, **fields}), flush=True)


def condition(body: Manifest | None, type_: str) -> dict[str, Any]:
    for c in ((body or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return {}


async def wait(what: str, probe: Callable[[], Awaitable[Any]], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.5)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def examples(directory: Path) -> tuple[list[Manifest], list[Manifest]]:
    franchises = load_manifests((directory / "franchise.yaml").read_text())
    outlets = load_manifests((directory / "outlet.yaml").read_text())
    return franchises, outlets


async def ready(kube: Kube, kind: str, name: str, type_: str = "Ready") -> Manifest | None:
    body = await kube.get(API, kind, name)
    found = condition(body, type_)
    generation = (body or {}).get("metadata", {}).get("generation")
    if found.get("status") == "True" and found.get("observedGeneration") == generation:
        return body
    return None


async def onboard(args: argparse.Namespace) -> None:
    franchises, outlets = examples(args.examples)
    if args.tier:
        # The examples' tier as it is, or a smaller one for a small node (one 2-core node
        # has room for the platform and one franchise at tier small: 100m CPU per pod).
        for franchise in franchises:
            franchise["spec"]["tier"] = args.tier
    async with Kube(lambda: Credentials.load(args.kubeconfig), field_manager="bobaku-e2e") as kube:
        started = time.monotonic()
        for manifest in franchises + outlets:
            await kube.apply(manifest)
            say("applied", kind=manifest["kind"], name=manifest["metadata"]["name"])
        for manifest in franchises + outlets:
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            probe = functools.partial(ready, kube, kind, name)
            body = await wait(f"{kind} {name} Ready", probe, args.timeout)
            say(
                "ready",
                kind=kind,
                name=name,
                seconds=round(time.monotonic() - started, 2),
                message=condition(body, "Ready").get("message"),
            )
        for franchise in franchises:
            name = franchise["metadata"]["name"]
            mine = sorted(
                o["metadata"]["name"] for o in outlets if o["spec"]["franchiseRef"] == name
            )

            async def registered(name: str = name, mine: list[str] = mine) -> bool:
                body = await kube.get(API, "Franchise", name)
                return ((body or {}).get("status") or {}).get("outlets") == mine

            await wait(f"outlets registered in {name}", registered, args.timeout)
            say("registered", franchise=name, outlets=mine)
            if args.available:

                async def serving(name: str = name) -> Manifest | None:
                    return await ready(kube, "Franchise", name, "Available")

                body = await wait(f"{name}'s pods available", serving, args.timeout)
                say("available", franchise=name, workloads=body["status"].get("workloads"))


async def offboard(args: argparse.Namespace) -> None:
    franchises, outlets = examples(args.examples)
    async with Kube(lambda: Credentials.load(args.kubeconfig), field_manager="bobaku-e2e") as kube:
        for manifest in outlets + franchises:
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            await kube.delete(API, kind, name)

            async def gone(kind: str = kind, name: str = name) -> bool:
                return await kube.get(API, kind, name) is None

            await wait(f"{kind} {name} deleted", gone, args.timeout)
            say("deleted", kind=kind, name=name)


async def order(args: argparse.Namespace) -> None:
    """Place an order through the gateway and watch its updates arrive on the hub.

    Written against docs/hub-protocol.md and the brief's order shape; it needs the whole
    platform running (kind), so the local suite does not run it.
    """
    token = args.token_file.read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{args.hub}/ws") as ws:
        await ws.send_json({"id": 1, "op": "connect", "token": token, "name": "e2e"})
        connected = await ws.receive_json(timeout=10)
        if "result" not in connected:
            raise SystemExit(f"hub refused the connection: {connected}")
        body = {
            "outlet_id": args.outlet,
            "items": [
                {
                    "menu_id": "m001",
                    "quantity": 2,
                    "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": ["t001"]},
                }
            ],
            "payment_method": "gopay",
        }
        headers = {**auth, "Idempotency-Key": str(uuid.uuid4())}
        async with http.post(f"{args.gateway}/api/v1/orders", json=body, headers=headers) as r:
            placed = await r.json()
            if r.status >= 300:
                raise SystemExit(f"gateway refused the order ({r.status}): {placed}")
        # The order view (docs/api/order.md) names the order `id`.
        order_id = placed["data"]["id"]
        say("order-placed", order_id=order_id, status=placed["data"].get("status"))
        await ws.send_json({"id": 2, "op": "subscribe", "channel": f"order:{order_id}"})
        seen: list[str] = []
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and args.until not in seen:
            message = await ws.receive_json(timeout=max(deadline - time.monotonic(), 0.1))
            if message.get("type") == "ping":
                await ws.send_json({"op": "pong"})
            elif message.get("type") == "pub":
                seen.append(message["data"]["type"])
                say("hub", order_id=order_id, event=message["data"]["type"])
        if args.until not in seen:
            raise SystemExit(f"{args.until} never arrived on the hub; saw {seen}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    for name in ("onboard", "offboard"):
        step = steps.add_parser(name)
        step.add_argument("--kubeconfig", type=Path, required=True)
        step.add_argument("--examples", type=Path, default=ROOT / "docs" / "examples")
        step.add_argument("--timeout", type=float, default=120.0)
        if name == "onboard":
            step.add_argument(
                "--available",
                action="store_true",
                help="also wait until the franchise's pods serve (needs a kubelet)",
            )
            step.add_argument(
                "--tier", choices=("small", "medium", "large"), help="instead of the examples'"
            )
    step = steps.add_parser("order")
    step.add_argument("--gateway", required=True, help="e.g. http://127.0.0.1:18080")
    step.add_argument("--hub", required=True, help="e.g. ws://127.0.0.1:18888")
    step.add_argument("--token-file", type=Path, required=True)
    step.add_argument("--outlet", default="jkt-selatan-senopati")
    step.add_argument("--until", default="order.created", help="the hub event to wait for")
    step.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    run = {"onboard": onboard, "offboard": offboard, "order": order}[args.step]
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
