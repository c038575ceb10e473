"""`make run`: start every platform process on the local infrastructure, print the URLs,
and stop everything cleanly on Ctrl-C.

The infrastructure (NATS, Redis, FerretDB) is already up (the Makefile ran
``scripts/infra.sh up`` and exported its URLs). This supervisor:

1. creates development JWT keys under ``.run/keys`` once;
2. starts each process in ``PROCESSES`` with its own port and service name, prefixing its
   log lines with its name;
3. waits until each answers ``/readyz``, then prints the URLs;
4. on Ctrl-C or SIGTERM sends SIGTERM to each process (they drain requests and consumers),
   waits, and finally stops the infrastructure it was started with.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = Path(os.environ.get("BOBAKU_RUN_DIR", ROOT / ".run"))
KEYS = RUN_DIR / "keys"


@dataclass(frozen=True)
class Process:
    name: str
    module: str
    port: int
    public: bool = False


# Every platform process that exists. New services add a line here.
PROCESSES = [
    Process(
        "gateway", "bobaku.services.gateway", int(os.environ.get("GATEWAY_PORT", "18080")), True
    ),
]


def say(msg: str) -> None:
    print(f"\033[1m[run]\033[0m {msg}", flush=True)


def ensure_dev_keys() -> tuple[Path, Path]:
    """An Ed25519 key pair for signing and verifying development tokens."""
    from bobaku.kernel.auth import generate_private_key, private_key_pem, public_key_pem

    private, public = KEYS / "jwt-private.pem", KEYS / "jwt-public.pem"
    if not private.exists():
        KEYS.mkdir(parents=True, exist_ok=True)
        key = generate_private_key()
        private.write_bytes(private_key_pem(key))
        private.chmod(0o600)
        public.write_bytes(public_key_pem(key.public_key()))
        say(f"created development JWT keys in {KEYS}")
    return private, public


def process_env(proc: Process, private: Path, public: Path) -> dict[str, str]:
    """Each process verifies tokens with the public key and calls others with its own
    service token; only the customer service (the issuer) holds the private key."""
    from bobaku.kernel.auth import Role, TokenIssuer, load_private_key
    from bobaku.kernel.settings import get_settings

    settings = get_settings()
    issuer = TokenIssuer(
        load_private_key(private.read_bytes()),
        kid=settings.jwt_key_id,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    env = {
        "SERVICE_NAME": proc.name,
        "HTTP_PORT": str(proc.port),
        "JWT_PUBLIC_KEY_FILE": str(public),
        "SERVICE_TOKEN": issuer.issue(f"svc-{proc.name}", [Role.SERVICE], ttl_s=30 * 24 * 3600),
    }
    if proc.name == "customer":
        env["JWT_PRIVATE_KEY_FILE"] = str(private)
    return env


async def pipe_logs(name: str, stream: asyncio.StreamReader) -> None:
    width = max(len(p.name) for p in PROCESSES)
    while line := await stream.readline():
        sys.stdout.write(f"{name:>{width}} | {line.decode(errors='replace')}")
        sys.stdout.flush()


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


async def wait_ready(proc: Process, child: asyncio.subprocess.Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.returncode is not None:
            raise RuntimeError(f"{proc.name} exited with code {child.returncode} while starting")
        if await asyncio.to_thread(ready, proc.port):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{proc.name} was not ready on port {proc.port} after {timeout:.0f}s")


async def main() -> int:
    private, public = ensure_dev_keys()
    env = {**os.environ, "ENVIRONMENT": "dev", "HTTP_HOST": "127.0.0.1"}
    children: list[tuple[Process, asyncio.subprocess.Process]] = []
    tasks: list[asyncio.Task[None]] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        for proc in PROCESSES:
            say(f"starting {proc.name} on port {proc.port}")
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", proc.module,
                env={**env, **process_env(proc, private, public)},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us only; we stop children in order
            )  # fmt: skip
            children.append((proc, child))
            assert child.stdout is not None
            tasks.append(asyncio.create_task(pipe_logs(proc.name, child.stdout)))
        for proc, child in children:
            await wait_ready(proc, child, timeout=60)
        print_urls()
        exits = [asyncio.create_task(child.wait()) for _, child in children]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *exits], return_when=asyncio.FIRST_COMPLETED)
        if stopper not in done:
            dead = [p.name for p, c in children if c.returncode is not None]
            say(f"{', '.join(dead)} exited; stopping everything")
            code = 1
    except RuntimeError as exc:
        say(f"error: {exc}")
        code = 1
    finally:
        await shutdown(children)
        for task in tasks:
            task.cancel()
        stop_infrastructure()
    return code


def print_urls() -> None:
    gateway = next(p for p in PROCESSES if p.name == "gateway")
    base = f"http://127.0.0.1:{gateway.port}"
    say("BobaKu is up:")
    print(f"    API gateway     {base}/api/v1")
    print(f"    health          {base}/healthz   {base}/readyz")
    print(f"    metrics         {base}/metrics")
    for proc in PROCESSES:
        if not proc.public:
            print(f"    {proc.name:<15} http://127.0.0.1:{proc.port}")
    print(f"    NATS            {os.environ.get('NATS_URL')}")
    print(f"    Redis           {os.environ.get('REDIS_URL')}")
    print(f"    MongoDB (wire)  {os.environ.get('MONGODB_URL')}")
    say("press Ctrl-C to stop")


async def shutdown(children: list[tuple[Process, asyncio.subprocess.Process]]) -> None:
    running = [(p, c) for p, c in children if c.returncode is None]
    if not running:
        return
    say("stopping " + ", ".join(p.name for p, _ in running) + " (draining requests)")
    for _, child in running:
        child.send_signal(signal.SIGTERM)
    for proc, child in running:
        try:
            await asyncio.wait_for(child.wait(), 20)
        except TimeoutError:
            say(f"{proc.name} did not stop in 20s; killing it")
            child.kill()
            await child.wait()


def stop_infrastructure() -> None:
    if os.environ.get("BOBAKU_KEEP_INFRA"):
        say("leaving the infrastructure running (BOBAKU_KEEP_INFRA is set)")
        return
    say("stopping the local infrastructure")
    subprocess.run([str(ROOT / "scripts" / "infra.sh"), "down"], check=False)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
