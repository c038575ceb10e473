"""The end-to-end scenario, step by step; each step is one subcommand.

    python e2e/scenario.py onboard  --kubeconfig K [--examples docs/examples] [--available]
                                     [--tier T] [--open-now]
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
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from pymongo import AsyncMongoClient

from bobaku.operator.envtest import load_manifests
from bobaku.operator.kube import Credentials, Kube, Manifest

API = "bobaku.io/v1alpha1"
ROOT = Path(__file__).resolve().parents[1]
KUBECTL = os.environ.get("KUBECTL", "kubectl")


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


ALL_WEEK = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def open_around_now(timezone: str, *, hours: int) -> dict[str, Any]:
    """Opening hours from ``hours`` before now to ``hours`` after, every day (a shift past
    midnight when now is near it, which the outlet's hours allow)."""
    now = datetime.now(ZoneInfo(timezone))
    return {
        "opens": (now - timedelta(hours=hours)).strftime("%H:%M"),
        "closes": (now + timedelta(hours=hours)).strftime("%H:%M"),
        "days": ALL_WEEK,
    }


async def onboard(args: argparse.Namespace) -> None:
    franchises, outlets = examples(args.examples)
    if args.tier:
        # The examples' tier as it is, or a smaller one for a small node (one 2-core node
        # has room for the platform and one franchise at tier small: 100m CPU per pod).
        for franchise in franchises:
            franchise["spec"]["tier"] = args.tier
    if args.open_now:
        for outlet in outlets:
            outlet["spec"]["openingHours"] = open_around_now(args.timezone, hours=6)
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


# The Event the operator posts about a Franchise's database as it goes, per retention.
RETENTION_EVENT = {"Retain": "DatabaseRetained", "Delete": "DatabaseDropped"}


async def offboard(args: argparse.Namespace) -> None:
    """Delete the Outlets and Franchises; with ``--retention``, the Franchise is switched
    to that policy first and the operator must report its database kept or dropped."""
    franchises, outlets = examples(args.examples)
    # Events live an hour: only those posted from now on count (second resolution).
    since = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with Kube(lambda: Credentials.load(args.kubeconfig), field_manager="bobaku-e2e") as kube:
        if args.retention:
            for manifest in franchises:
                name = manifest["metadata"]["name"]
                await kube.patch(API, "Franchise", name, {"spec": {"retention": args.retention}})
        for manifest in outlets + franchises:
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            await kube.delete(API, kind, name)

            async def gone(kind: str = kind, name: str = name) -> bool:
                return await kube.get(API, kind, name) is None

            await wait(f"{kind} {name} deleted", gone, args.timeout)
            say("deleted", kind=kind, name=name)
        if args.retention:
            wanted = RETENTION_EVENT[args.retention]
            for manifest in franchises:
                name = manifest["metadata"]["name"]

                async def reported(name: str = name) -> str | None:
                    events = await kube.list(
                        "v1", "Event", args.namespace, fields={"involvedObject.name": name}
                    )
                    for event in events:
                        at = event.get("lastTimestamp") or event.get("eventTime") or ""
                        if event.get("reason") == wanted and at[:19] >= since[:19]:
                            return str(event.get("message"))
                    return None

                message = await wait(f"{wanted} for {name}", reported, args.timeout)
                kept = None
                if args.mongodb_url:  # the database itself, not only what the operator says
                    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(args.mongodb_url)
                    try:
                        database = f"bobaku_fr_{name.replace('-', '_')}"
                        kept = database in await client.list_database_names()
                    finally:
                        await client.close()
                    if kept != (args.retention == "Retain"):
                        raise SystemExit(f"retention {args.retention}: database kept = {kept}")
                say(
                    "retention",
                    franchise=name,
                    policy=args.retention,
                    event=wanted,
                    message=message,
                    database_kept=kept,
                )


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
        if args.kill:
            # Mid-order: a silo pod goes (the Deployment starts another) while the saga runs.
            namespace, service = args.kill.split("/", 1)
            selector = f"app.kubernetes.io/name={service}"
            proc = await asyncio.create_subprocess_exec(
                KUBECTL,
                "-n",
                namespace,
                "delete",
                "pod",
                "-l",
                selector,
                "--wait=false",
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await proc.communicate()
            if proc.returncode != 0 or not out.strip():
                raise SystemExit(f"no {selector} pod deleted in {namespace}")
            killed = out.decode().strip()
            say("pod-deleted", order_id=order_id, pods=killed)
        await ws.send_json({"id": 2, "op": "subscribe", "channel": f"order:{order_id}"})
        seen: list[str] = []
        while True:  # the subscribe's answer: the hub may refuse (who may read the order)
            message = await ws.receive_json(timeout=args.timeout)
            if message.get("id") == 2:
                if "result" not in message:
                    raise SystemExit(f"hub refused order:{order_id}: {message}")
                break
            if message.get("type") == "ping":
                await ws.send_json({"op": "pong"})
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
        if args.staff_token_file:
            await _kitchen(http, args, order_id)
        if args.provider_sim:
            await _charged_once(http, args.provider_sim, order_id, args.timeout)


async def _kitchen(http: aiohttp.ClientSession, args: argparse.Namespace, order_id: str) -> None:
    """The barista bumps the order (ready) and hands it over (completed)."""
    staff = {"Authorization": f"Bearer {args.staff_token_file.read_text().strip()}"}
    for move, wanted in (("bump", "ready"), ("complete", "completed")):

        async def moved(move: str = move, wanted: str = wanted) -> dict[str, Any] | None:
            url = f"{args.gateway}/api/v1/orders/{order_id}/{move}"
            async with http.post(url, headers=staff) as r:
                reply = await r.json()
            if r.status == 200 and reply["data"]["status"]["current"] == wanted:
                return dict(reply["data"])
            if r.status == 409 and (reply["error"].get("details") or {}).get("status") == wanted:
                return dict(reply["error"]["details"])  # an earlier attempt got through
            # 409 while the payment is still being captured; 502-504 while the deleted pod is
            # replaced (a barista presses again); anything else is a failure.
            if r.status not in (200, 409, 502, 503, 504):
                raise SystemExit(f"{move} refused ({r.status}): {reply}")
            return None

        await wait(f"{order_id} {wanted}", moved, args.timeout)
        say("kitchen", order_id=order_id, move=move, status=wanted)


async def _charged_once(
    http: aiohttp.ClientSession, provider_sim: str, order_id: str, timeout: float
) -> None:
    """The provider holds exactly one charge for the order's payment, captured, never
    refunded: a retry or a restarted pod must not have charged the customer twice."""
    intent = "pay-" + order_id.removeprefix("ord-")

    async def settled() -> list[dict[str, Any]] | None:
        url = f"{provider_sim}/_control/gopay/charges"
        async with http.get(url, params={"merchant_ref": intent}) as r:
            items = list((await r.json())["data"]["items"])
        return items if items and all(c.get("status") != "pending" for c in items) else None

    charges = await wait(f"the provider's charge for {intent}", settled, timeout)
    summary = [
        {k: c.get(k) for k in ("transaction_id", "status", "amount", "refunded", "requests")}
        for c in charges
    ]
    if len(charges) != 1 or charges[0].get("refunded") or charges[0].get("refunds"):
        raise SystemExit(f"{intent}: not charged exactly once: {summary}")
    say("charged-once", order_id=order_id, charge=summary[0])


async def _place(
    http: aiohttp.ClientSession, gateway: str, token: str, outlet: str
) -> tuple[int, dict[str, Any]]:
    body = {
        "outlet_id": outlet,
        "items": [{"menu_id": "m001", "quantity": 1}],
        "payment_method": "gopay",
    }
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    async with http.post(f"{gateway}/api/v1/orders", json=body, headers=headers) as r:
        return r.status, await r.json()


async def hours(args: argparse.Namespace) -> None:
    """Close the outlet now through its Outlet resource's openingHours: once the menu service
    holds the new hours, an order must be refused (409 outlet_closed); open it around now:
    an order must be taken. Then the example's own hours are applied again."""
    _, outlets = examples(args.examples)
    outlet = next(o for o in outlets if o["metadata"]["name"] == args.outlet)
    token = args.token_file.read_text().strip()
    now = datetime.now(ZoneInfo(args.timezone))
    closed = {
        "opens": (now + timedelta(hours=3)).strftime("%H:%M"),
        "closes": (now + timedelta(hours=4)).strftime("%H:%M"),
        "days": ALL_WEEK,
    }
    async with (
        Kube(lambda: Credentials.load(args.kubeconfig), field_manager="bobaku-e2e") as kube,
        aiohttp.ClientSession() as http,
    ):

        async def menu_shows(hours: dict[str, Any]) -> bool:
            """The menu service, which every service asks, holds these hours for the outlet."""
            shift = [{"open": hours["opens"], "close": hours["closes"]}]
            wanted = {day.lower(): shift for day in hours["days"]}
            async with http.get(f"{args.gateway}/api/v1/outlets/{args.outlet}") as r:
                reply = await r.json()
            return r.status == 200 and reply["data"]["opening_hours"] == wanted

        # Open around now (past midnight when it must be), whatever the time of the run.
        around_now = open_around_now(args.timezone, hours=2)
        manifest = json.loads(json.dumps(outlet))
        manifest["spec"]["openingHours"] = closed
        await kube.apply(manifest)
        started = time.monotonic()
        await wait(
            "the menu service to hold the new hours", lambda: menu_shows(closed), args.timeout
        )
        # The silo's menu, which prices the order, drops its cached outlet on the same
        # menu.outlet_changed: a few seconds at most behind the pooled one asked above.
        early: list[str] = []

        async def refused() -> str | None:
            status, reply = await _place(http, args.gateway, token, args.outlet)
            code = (reply.get("error") or {}).get("code")
            if status < 300:
                early.append(reply["data"]["id"])
                return None
            if (status, code) != (409, "outlet_closed"):
                raise SystemExit(f"an order outside the new hours: {status} {reply}")
            return str(code)

        code = await wait("an order refused as outlet_closed", refused, 10.0)
        say(
            "closed",
            outlet=args.outlet,
            hours=closed,
            seconds=round(time.monotonic() - started, 2),
            error=code,
            taken_before_the_silo_caught_up=early,
        )
        manifest["spec"]["openingHours"] = around_now
        await kube.apply(manifest)
        started = time.monotonic()
        await wait("the menu to hold the open hours", lambda: menu_shows(around_now), args.timeout)
        status, reply = await _place(http, args.gateway, token, args.outlet)
        if status >= 300:
            raise SystemExit(f"an order in the restored hours was refused: {status} {reply}")
        say(
            "open",
            outlet=args.outlet,
            hours=around_now,
            seconds=round(time.monotonic() - started, 2),
            order_id=reply["data"]["id"],
        )
        await kube.apply(outlet)  # the example's own hours again


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
            step.add_argument(
                "--open-now",
                action="store_true",
                help="the outlets open every day from 6 h before now to 6 h after (the "
                "examples' hours close at night: the scenario's orders must work at any hour)",
            )
            step.add_argument("--timezone", default="Asia/Jakarta", help="the outlets'")
        else:
            step.add_argument("--retention", choices=tuple(RETENTION_EVENT))
            step.add_argument("--namespace", default="bobaku-system", help="the operator's")
            step.add_argument("--mongodb-url", help="check the franchise database there too")
    step = steps.add_parser("hours")
    step.add_argument("--kubeconfig", type=Path, required=True)
    step.add_argument("--examples", type=Path, default=ROOT / "docs" / "examples")
    step.add_argument("--gateway", required=True)
    step.add_argument("--token-file", type=Path, required=True)
    step.add_argument("--outlet", default="jkt-selatan-senopati")
    step.add_argument("--timezone", default="Asia/Jakarta", help="the outlet's")
    step.add_argument("--timeout", type=float, default=120.0)
    step = steps.add_parser("order")
    step.add_argument("--gateway", required=True, help="e.g. http://127.0.0.1:18080")
    step.add_argument("--hub", required=True, help="e.g. ws://127.0.0.1:18888")
    step.add_argument("--token-file", type=Path, required=True)
    step.add_argument("--outlet", default="jkt-selatan-senopati")
    # Not order.created: it is published while the order is placed, before the subscription.
    step.add_argument(
        "--until", default="order.payment_completed", help="the hub event to wait for"
    )
    step.add_argument("--kill", help="NAMESPACE/SERVICE: delete its pods once the order is placed")
    step.add_argument("--staff-token-file", type=Path, help="then bump and complete it")
    step.add_argument("--provider-sim", help="then check the provider charged it once")
    step.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    run = {"onboard": onboard, "offboard": offboard, "order": order, "hours": hours}[args.step]
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
