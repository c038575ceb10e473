"""Starting the platform's processes: shared by `make run` (scripts/run.py), the integration
tests (tests/platform/) and the benchmarks (bench/).

Each process gets its port, the upstream URLs of the others, the public key that verifies
tokens, and a service token of its own (a JWT with role ``service``); only the customer
service, which issues tokens, gets the private key.

Replicas: ``Platform(..., replicas={"order": 2})`` starts two order processes on the same
port (``HTTP_REUSE_PORT``: the kernel spreads connections over them, as a Kubernetes
Service would over pods) and the same deployment id, so they share the service's durable
consumers; :meth:`Platform.scale` changes the count of a running platform. Replica ``n``
(from 2) runs as ``<name>#<n>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bobaku.kernel.auth import Role, TokenIssuer


@dataclass(frozen=True)
class Process:
    name: str
    module: str
    port: int
    public: bool = False


# Every platform process, in start order. Ports follow docs/contracts.md.
ALL_PROCESSES = (
    Process("provider-sim", "bobaku.services.provider_sim", 18090),
    Process("push-sim", "bobaku.services.push_sim", 18091),
    Process("customer", "bobaku.services.customer", 18081),
    Process("menu", "bobaku.services.menu", 18082),
    Process("payment", "bobaku.services.payment", 18084),
    Process("supply", "bobaku.services.supply", 18085),
    Process("order", "bobaku.services.order", 18083),
    Process("notification", "bobaku.services.notification", 18086),
    Process("analytics", "bobaku.services.analytics", 18087),
    Process("hub", "bobaku.hub", 18888, public=True),
    Process("gateway", "bobaku.services.gateway", 18080, public=True),
)

URL_SETTINGS = {
    "customer": "CUSTOMER_URL",
    "menu": "MENU_URL",
    "order": "ORDER_URL",
    "payment": "PAYMENT_URL",
    "supply": "SUPPLY_URL",
    "provider-sim": "PROVIDER_SIM_URL",
    "hub": "HUB_URL",
    "notification": "NOTIFICATION_URL",
    "push-sim": "PUSH_SIM_URL",
    "analytics": "ANALYTICS_URL",
}


def available(processes: tuple[Process, ...] = ALL_PROCESSES) -> list[Process]:
    """Only what exists in this checkout (the platform lands one issue at a time)."""
    found = []
    for proc in processes:
        try:
            spec = importlib.util.find_spec(f"{proc.module}.__main__")
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            found.append(proc)
    return found


def environment(
    procs: list[Process],
    issuer: TokenIssuer,
    private_key: Path,
    public_key: Path,
    extra: Mapping[str, str] | None = None,
) -> dict[str, dict[str, str]]:
    """The environment of each process, on top of the caller's own."""
    urls = {
        URL_SETTINGS[p.name]: f"http://127.0.0.1:{p.port}" for p in procs if p.name in URL_SETTINGS
    }
    payment = next((p for p in procs if p.name == "payment"), None)
    if payment is not None:
        urls["PAYMENT_WEBHOOK_BASE_URL"] = f"http://127.0.0.1:{payment.port}"
    gateway = next((p for p in procs if p.name == "gateway"), None)
    if gateway is not None:
        urls["GATEWAY_PUBLIC_URL"] = f"http://127.0.0.1:{gateway.port}"
    hub = next((p for p in procs if p.name == "hub"), None)
    if hub is not None:  # the hub's pages call the gateway from the browser
        urls["CORS_ORIGINS"] = json.dumps(
            [f"http://{h}:{hub.port}" for h in ("127.0.0.1", "localhost")]
        )
    envs = {}
    for proc in procs:
        env = {
            **urls,
            **(extra or {}),
            "SERVICE_NAME": proc.name,
            "HTTP_PORT": str(proc.port),
            # `python -m` must not put the working directory on sys.path (see Makefile).
            "PYTHONSAFEPATH": "1",
            "JWT_PUBLIC_KEY_FILE": str(public_key),
            "JWT_KEY_ID": issuer.kid,
            "SERVICE_TOKEN": issuer.issue(f"svc-{proc.name}", [Role.SERVICE], ttl_s=30 * 24 * 3600),
        }
        if proc.name == "customer":
            env["JWT_PRIVATE_KEY_FILE"] = str(private_key)
        envs[proc.name] = env
    return envs


def is_ready(port: int) -> bool:
    try:
        # B310: a fixed http://127.0.0.1 readiness URL
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:  # nosec B310
            return bool(resp.status == 200)
    except OSError:
        return False


@dataclass
class Running:
    proc: Process
    child: asyncio.subprocess.Process
    log_task: asyncio.Task[None] | None = None


@dataclass
class Platform:
    """A set of platform processes started together and stopped together."""

    procs: list[Process]
    envs: dict[str, dict[str, str]]
    log_line: Callable[[str, str], None]
    running: dict[str, Running] = field(default_factory=dict)
    # Processes of a service beyond one (see the module's docstring).
    replicas: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Named here (even with a count of 1): may be scaled while running.
        for name in self.replicas:
            self.envs[name]["HTTP_REUSE_PORT"] = "true"

    async def start(self, timeout_s: float = 60) -> None:
        for proc in self.procs:
            for n in range(1, self.replicas.get(proc.name, 1) + 1):
                await self.start_one(proc, replica_name(proc.name, n))
        for name in list(self.running):
            await self.wait_ready(name, timeout_s)

    def replicas_of(self, name: str) -> list[str]:
        return [n for n in self.running if n == name or n.startswith(f"{name}#")]

    async def scale(self, name: str, count: int, timeout_s: float = 60) -> None:
        """``count`` processes of ``name`` (0 stops them all): new ones are started and
        waited for, the last ones beyond ``count`` are stopped (SIGTERM: they drain)."""
        if count > 1 and self.envs[name].get("HTTP_REUSE_PORT") != "true":
            raise ValueError(f"{name} was started without replicas= (no shared port)")
        proc = next(p for p in self.procs if p.name == name)
        for n in range(len(self.replicas_of(name)), count, -1):
            await self.stop_one(replica_name(name, n))
        started = []
        for n in range(len(self.replicas_of(name)) + 1, count + 1):
            await self.start_one(proc, replica_name(name, n))
            started.append(replica_name(name, n))
        for replica in started:
            await self.wait_ready(replica, timeout_s)

    async def stop_one(self, name: str, grace_s: float = 20) -> None:
        running = self.running.pop(name)
        if running.child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                running.child.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(running.child.wait(), grace_s)
            except TimeoutError:
                running.child.kill()
                await running.child.wait()
        if running.log_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(running.log_task, 2)

    async def start_one(self, proc: Process, name: str | None = None) -> None:
        name = name or proc.name
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", proc.module,
            env={**os.environ, **self.envs[proc.name]},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches the supervisor only
        )  # fmt: skip
        running = Running(proc, child)
        running.log_task = asyncio.create_task(self._pipe(name, child.stdout))
        self.running[name] = running

    async def _pipe(self, name: str, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        while line := await stream.readline():
            self.log_line(name, line.decode(errors="replace"))

    async def wait_ready(self, name: str, timeout_s: float = 60) -> None:
        running = self.running[name]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if running.child.returncode is not None:
                raise RuntimeError(
                    f"{name} exited with code {running.child.returncode} while starting"
                )
            # Replicas share the port: this one is up once it listens (aiohttp binds after
            # its start-up) and the port answers ready.
            shared = self.envs[running.proc.name].get("HTTP_REUSE_PORT") == "true"
            listening = not shared or listens(running.child.pid, running.proc.port)
            if listening and await asyncio.to_thread(is_ready, running.proc.port):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(
            f"{name} was not ready on port {running.proc.port} after {timeout_s:.0f}s"
        )

    async def kill(self, name: str) -> None:
        """SIGKILL: the crash the saga must survive."""
        running = self.running[name]
        if running.child.returncode is None:
            running.child.kill()
            await running.child.wait()

    async def restart(self, name: str, timeout_s: float = 60) -> None:
        await self.kill(name)
        await self.start_one(self.running[name].proc, name)
        await self.wait_ready(name, timeout_s)

    async def supervise(
        self,
        stop: asyncio.Event,
        say: Callable[[str], None],
        backoff: tuple[float, ...] = (1, 2, 4, 8, 16, 30),
        healthy_after_s: float = 60,
    ) -> None:
        """Restart any process that exits, until ``stop`` is set: the local stand-in for a
        Deployment's restart policy. Back-off grows with each crash of the same process and
        starts over once it has stayed up ``healthy_after_s``; the data servers and the other
        processes keep running meanwhile."""
        crashes: dict[str, int] = {}
        started: dict[str, float] = {name: time.monotonic() for name in self.running}

        async def watch(name: str) -> None:
            while not stop.is_set():
                running = self.running[name]
                waiter = asyncio.create_task(running.child.wait())
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if stop.is_set():
                    waiter.cancel()
                    return
                if time.monotonic() - started[name] >= healthy_after_s:
                    crashes[name] = 0
                attempt = crashes.get(name, 0)
                crashes[name] = attempt + 1
                delay = backoff[min(attempt, len(backoff) - 1)]
                say(
                    f"{name} exited with code {running.child.returncode}; restarting in "
                    f"{delay:g}s (restart {attempt + 1})"
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return
                await self.start_one(running.proc, name)
                started[name] = time.monotonic()
                try:
                    await self.wait_ready(name)
                    say(f"{name} is back (pid {self.running[name].child.pid})")
                except RuntimeError as exc:
                    say(f"{name} did not come back: {exc}")

        await asyncio.gather(*(watch(name) for name in list(self.running)))

    async def stop(self, grace_s: float = 20) -> None:
        """SIGTERM to all (they drain), in reverse order; SIGKILL what does not stop."""
        alive = [r for r in reversed(self.running.values()) if r.child.returncode is None]
        for running in alive:
            with contextlib.suppress(ProcessLookupError):
                running.child.send_signal(signal.SIGTERM)
        for running in alive:
            try:
                await asyncio.wait_for(running.child.wait(), grace_s)
            except TimeoutError:
                running.child.kill()
                await running.child.wait()
        for running in self.running.values():
            if running.log_task is not None:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(running.log_task, 2)


def replica_name(name: str, n: int) -> str:
    return name if n == 1 else f"{name}#{n}"


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a listening TCP socket on ``port`` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return True
    return False


def file_logger(folder: Path) -> Callable[[str, str], None]:
    """Append each process's lines to ``<folder>/<name>.log`` (test artifacts)."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, IO[str]] = {}

    def write(name: str, line: str) -> None:
        if name not in files:
            files[name] = (folder / f"{name}.log").open("a", buffering=1)
        files[name].write(line)

    return write
