"""`make run`: start every platform process on the local infrastructure, seed the demo
brand, print the URLs, and stop everything cleanly on Ctrl-C.

The infrastructure (NATS, Redis, FerretDB) is already up (the Makefile ran
``scripts/infra.sh up`` and exported its URLs). This supervisor:

1. creates development JWT keys under ``.run/keys`` once;
2. starts each process that exists (scripts/launcher.py) with its own port, upstream URLs
   and service token, prefixing its log lines with its name;
3. waits until each answers ``/readyz``, seeds the demo brand (idempotent), prints the URLs;
4. restarts a process that crashes, with back-off, and says so in the log; the others and
   the data servers keep running;
5. on Ctrl-C or SIGTERM sends SIGTERM to each process (they drain requests and consumers),
   waits, and finally stops the infrastructure.
"""

from __future__ import annotations

import asyncio
import os
import signal

# B404: `make run` stops the local servers with our own script
import subprocess  # nosec B404
import sys
from collections.abc import Callable
from pathlib import Path

from launcher import Platform, Process, available, environment

from bobaku.kernel.auth import (
    TokenIssuer,
    generate_private_key,
    load_private_key,
    private_key_pem,
    public_key_pem,
)
from bobaku.kernel.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = Path(os.environ.get("BOBAKU_RUN_DIR", ROOT / ".run"))
KEYS = RUN_DIR / "keys"


def say(msg: str) -> None:
    print(f"\033[1m[run]\033[0m {msg}", flush=True)


def dev_issuer() -> tuple[TokenIssuer, Path, Path]:
    """An Ed25519 key pair for development tokens, created once under .run/keys."""
    private, public = KEYS / "jwt-private.pem", KEYS / "jwt-public.pem"
    if not private.exists():
        KEYS.mkdir(parents=True, exist_ok=True)
        key = generate_private_key()
        private.write_bytes(private_key_pem(key))
        private.chmod(0o600)
        public.write_bytes(public_key_pem(key.public_key()))
        say(f"created development JWT keys in {KEYS}")
    settings = get_settings()
    issuer = TokenIssuer(
        load_private_key(private.read_bytes()),
        kid=settings.jwt_key_id,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    return issuer, private, public


def with_port_overrides(procs: list[Process]) -> list[Process]:
    gateway_port = int(os.environ.get("GATEWAY_PORT", "18080"))
    return [
        Process(p.name, p.module, gateway_port, p.public) if p.name == "gateway" else p
        for p in procs
    ]


def printer(procs: list[Process]) -> Callable[[str, str], None]:
    width = max(len(p.name) for p in procs)

    def line(name: str, text: str) -> None:
        sys.stdout.write(f"{name:>{width}} | {text}")
        sys.stdout.flush()

    return line


async def seed(envs: dict[str, dict[str, str]]) -> None:
    """Load the demo brand through each service's own seed (idempotent)."""
    from seed import seed_demo_brand

    await seed_demo_brand(envs)


async def main() -> int:
    procs = with_port_overrides(available())
    issuer, private, public = dev_issuer()
    envs = environment(
        procs, issuer, private, public, {"ENVIRONMENT": "dev", "HTTP_HOST": "127.0.0.1"}
    )
    platform = Platform(procs, envs, printer(procs))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        say("starting " + ", ".join(f"{p.name} (:{p.port})" for p in procs))
        await platform.start()
        await seed(envs)
        print_urls(procs)
        # A crashed process is restarted with back-off; only Ctrl-C/SIGTERM stops it all.
        await platform.supervise(stop, say)
    except RuntimeError as exc:
        say(f"error: {exc}")
        code = 1
    finally:
        say("stopping " + ", ".join(platform.running) + " (draining requests)")
        await platform.stop()
        stop_infrastructure()
    return code


def print_urls(procs: list[Process]) -> None:
    ports = {p.name: p.port for p in procs}
    base = f"http://127.0.0.1:{ports['gateway']}"
    say("BobaKu is up:")
    print(f"    API gateway     {base}/api/v1   (docs {base}/api/docs)")
    print(f"    health          {base}/healthz   {base}/readyz   metrics {base}/metrics")
    print(f"    dashboard       {base}/dashboard   (HQ, owners, managers; make seed-history)")
    if "hub" in ports:
        hub = f"http://127.0.0.1:{ports['hub']}"
        print(f"    kitchen display {hub}/kds      order tracking {hub}/track")
    for proc in procs:
        if not proc.public:
            print(f"    {proc.name:<15} http://127.0.0.1:{proc.port}")
    print(f"    NATS            {os.environ.get('NATS_URL')}")
    print(f"    Redis           {os.environ.get('REDIS_URL')}")
    print(f"    MongoDB (wire)  {os.environ.get('MONGODB_URL')}")
    if os.environ.get("MAILPIT_URL"):
        smtp = os.environ.get("SMTP_PORT")
        print(f"    Mail inbox      {os.environ['MAILPIT_URL']}  (SMTP :{smtp})")
    if os.environ.get("PROMETHEUS_URL"):
        print(f"    Prometheus      {os.environ['PROMETHEUS_URL']}")
        print(f"    Alertmanager    {os.environ.get('ALERTMANAGER_URL')}")
        print(f"    Jaeger (traces) {os.environ.get('JAEGER_URL')}/search")
    print("    demo logins     see docs/api/customer.md (e.g. rina@example.com / bobaku-demo-123)")
    say("press Ctrl-C to stop")


def stop_infrastructure() -> None:
    if os.environ.get("BOBAKU_KEEP_INFRA"):
        say("leaving the infrastructure running (BOBAKU_KEEP_INFRA is set)")
        return
    say("stopping the local infrastructure")
    # B603: our own infra.sh, no shell
    subprocess.run([str(ROOT / "scripts" / "infra.sh"), "down"], check=False)  # nosec B603


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
