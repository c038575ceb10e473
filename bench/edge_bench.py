"""Cached reads at the edge: an outlet's menu read through the gateway, against a raw
aiohttp hello-world measured in the same run (``make bench-edge``).

Starts the menu service and the gateway with the launcher (this run's database prefix and
deployment id, rate limits out of reach, logs at WARNING), seeds the demo brand, reads the
menu once (that fills the gateway's edge cache and gives the baseline's body size), then
loads, ``--concurrency`` in flight from one client process, ``--seconds`` each, in the order
baseline, menu, menu with ``If-None-Match`` (304s), menu, baseline (the two windows of each
kind are pooled, so a machine growing busier or quieter weighs on both). ``--tracing``
repeats that for each tracing mode of the ordering benchmark (off; every trace kept, as the
tests run; one in ten kept at the root, the chart's default), each with a platform of its
own. Prints the table and rewrites the block between the ``edge-bench`` markers in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from ordering_bench import (
    TRACING_MODES,
    CpuMeter,
    Load,
    Run,
    baseline_server,
    bench_platform,
    client_session,
    cpu_line,
    http_get,
    infra_pids,
    load_average,
    log,
    machine_facts,
    paragraph,
    ratio,
    read_load,
    run_load,
)

from bobaku.kernel.cache import redis_from_settings
from bobaku.kernel.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
LOGS = ROOT / ".run" / "bench" / "edge"
BEGIN, END = "<!-- edge-bench:start -->", "<!-- edge-bench:end -->"
MENU_PATH = "/api/v1/outlets/outlet-01/menu"
MAX_REQUESTS = 200_000


async def revalidating_load(
    url: str, etag: str, concurrency: int, seconds: float, cpu: CpuMeter
) -> Load:
    async with client_session(concurrency) as session:

        async def get(_: int) -> float:
            begin = time.perf_counter()
            async with session.get(url, headers={"If-None-Match": etag}) as resp:
                await resp.read()
                if resp.status != 304:
                    raise RuntimeError(f"GET {url} with If-None-Match: {resp.status}")
            return time.perf_counter() - begin

        return await run_load(
            "menu 304",
            get,
            concurrency=concurrency,
            seconds=seconds,
            max_count=MAX_REQUESTS,
            cpu=cpu,
        )


async def redis_commands(base: Settings) -> int:
    """Commands the Redis server has processed (everyone's; this run is its only user)."""
    redis = redis_from_settings(base)
    try:
        return int((await redis.info("stats"))["total_commands_processed"])
    finally:
        await redis.aclose()


async def counted_reads(
    url: str, concurrency: int, seconds: float, cpu: CpuMeter
) -> tuple[Load, int]:
    """A menu load, and how many requests it sent in all (its warm-up's too)."""
    sent = [0]
    async with client_session(concurrency) as session:

        async def get(_: int) -> float:
            sent[0] += 1
            return await http_get(session, url)

        load = await run_load(
            "menu", get, concurrency=concurrency, seconds=seconds, max_count=MAX_REQUESTS, cpu=cpu
        )
    return load, sent[0]


async def bench_mode(concurrency: int, seconds: float, mode: str) -> tuple[str, list[str]]:
    for name, value in TRACING_MODES[mode].items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    base = Settings()
    run = Run()
    started = datetime.now(UTC)
    load_before = load_average()
    services = ("menu", "gateway")
    async with bench_platform(base, run, "edge-bench", services=services, logs=LOGS) as bp:
        plat, gateway = bp.plat, bp.gateway
        async with aiohttp.ClientSession() as session, session.get(gateway + MENU_PATH) as resp:
            body = await resp.read()
            etag = resp.headers.get("ETag", "")
            if resp.status != 200 or not etag:
                raise RuntimeError(f"menu read: {resp.status} {body[:300]!r}")
        async with baseline_server(len(body)) as (hello_url, baseline_pid):
            pids = {name: r.child.pid for name, r in plat.running.items()}
            pids |= {"baseline": baseline_pid, "client": os.getpid(), **infra_pids(base)}
            cpu = CpuMeter(pids)
            url = gateway + MENU_PATH
            log("baseline")
            b1 = await read_load(hello_url, "baseline", concurrency, seconds, cpu)
            log("menu")
            commands_before = await redis_commands(base)
            m1, sent = await counted_reads(url, concurrency, seconds, cpu)
            # Less the INFO of the second count itself.
            commands = (await redis_commands(base) - commands_before - 1) / max(sent, 1)
            log("menu with If-None-Match")
            revalidated = await revalidating_load(url, etag, concurrency, seconds, cpu)
            log("menu again")
            m2 = await read_load(url, "menu", concurrency, seconds, cpu)
            log("baseline again")
            b2 = await read_load(hello_url, "baseline", concurrency, seconds, cpu)
    baseline, menu = b1.merged(b2, "baseline"), m1.merged(m2, "menu")
    rows = [
        "| load | completed | errors | per second | p50 | p99 | throughput ÷ baseline "
        "| p99 ÷ baseline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for load, label in (
        (baseline, "baseline: raw aiohttp `GET /hello` (both windows)"),
        (menu, "cached menu read through the gateway (both windows)"),
        (revalidated, "the same with `If-None-Match` (304, no body)"),
    ):
        rows.append(
            f"| {label} | {load.completed_in_window:,} | {load.errors} | **{load.rate:,.0f}** "
            f"| {load.p50_ms:.1f} ms | {load.p99_ms:.1f} ms | {ratio(load.rate, baseline.rate)} "
            f"| {ratio(load.p99_ms, baseline.p99_ms)} |"
        )
    per_read = {
        name: menu.cpu.get(name, 0.0) / menu.rate * 1000 for name in ("gateway", "menu", "client")
    }
    hello_cpu = baseline.cpu.get("baseline", 0.0) / baseline.rate * 1000 if baseline.rate else 0
    label = {"off": "tracing off", "all": "every trace kept", "sampled": "1 trace in 10"}[mode]
    text = "\n".join(
        [
            f"**{label}** ({started:%H:%M} UTC; load average {load_before} before, "
            f"{load_average()} after; body {len(body):,} bytes)",
            "",
            *rows,
            "",
            paragraph(
                f"CPU per cached read: gateway {per_read['gateway']:.2f} ms, menu service "
                f"{per_read['menu']:.2f} ms (it is not called), the client "
                f"{per_read['client']:.2f} ms; Redis commands per read {commands:.2f} (server "
                f"count over the first menu window ÷ its requests); the hello-world server "
                f"{hello_cpu:.2f} ms per request. Baseline windows {b1.rate:,.0f} and "
                f"{b2.rate:,.0f} requests/s, menu windows {m1.rate:,.0f} and {m2.rate:,.0f}. "
                f"CPU during the menu windows (share of one core): {cpu_line(menu)}."
            ),
            "",
        ]
    )
    summary = (
        f"| {label} | {ratio(menu.rate, baseline.rate)} | {ratio(revalidated.rate, baseline.rate)} "
        f"| {per_read['gateway']:.2f} ms | {commands:.2f} | {hello_cpu:.2f} ms | {load_average()} |"
    )
    return text, [summary]


async def bench(concurrency: int, seconds: float, modes: list[str]) -> str:
    m = machine_facts()
    parts, summary = [], []
    for mode in modes:
        log(f"tracing {mode}")
        text, rows = await bench_mode(concurrency, seconds, mode)
        parts.append(text)
        summary += rows
    head = paragraph(
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench-edge` on {m['cpus']} "
        f"CPU cores ({m['cpu_model']}) shared with other sessions' work, Python {m['python']}, "
        f"aiohttp {m['aiohttp']}. {concurrency} requests in flight from one client process, "
        f"{seconds:.0f} s per window after a warm-up; in each tracing mode a platform of its "
        "own and windows in the order baseline, menu, 304, menu, baseline."
    )
    table = [
        "| tracing | cached menu ÷ hello | 304 ÷ hello | gateway CPU per read "
        "| Redis commands per read | hello CPU per request | load average after |",
        "|---|---|---|---|---|---|---|",
        *summary,
    ]
    return "\n".join([head, "", *table, "", *parts]).rstrip() + "\n"


def write_doc(block: str) -> None:
    text = DOC.read_text()
    new = f"{BEGIN}\n{block}\n{END}"
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + new + rest.split(END, 1)[1]
    else:
        text = text.replace("## Growth", f"### Cached menu reads at the edge\n\n{new}\n\n## Growth")
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tracing", default="off,sampled,all", help="modes, comma-separated")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    args = parser.parse_args()
    modes = args.tracing.split(",")
    unknown = set(modes) - set(TRACING_MODES)
    if unknown:
        parser.error(f"unknown tracing modes {sorted(unknown)}; use {sorted(TRACING_MODES)}")
    coro = bench(args.concurrency, args.seconds, modes)
    block = asyncio.run(asyncio.wait_for(coro, 200 * len(modes)))
    print(block)
    if not args.no_doc:
        write_doc(block)


if __name__ == "__main__":
    main()
