"""A real control plane and the real operator process for the operator's tests.

- Before any test runs (so no test timeout applies), ``scripts/k8s/build.sh`` builds
  kube-apiserver, etcd and helm once from Go modules and caches them; later runs find them
  at once. Its progress is printed, because the first build takes minutes.
- ``control_plane``: etcd + kube-apiserver (RBAC on) on loopback ports, for the session.
- ``installed``: the CRDs from ``crds/``, and the operator's ServiceAccount, ClusterRole,
  bindings and namespace guard rendered from the Helm chart, applied as admin.
- ``menu_service``: ``python -m bobaku.services.menu``, where the operator registers Outlets
  (its ``MENU_URL``, with a role-service ``SERVICE_TOKEN``).
- ``operator``: ``python -m bobaku.operator`` authenticated as its own service account
  (a TokenRequest token), so the chart's RBAC is what it runs with; against the real NATS
  and MongoDB-wire servers (``scripts/infra.sh``), with this run's own database prefix and
  routing bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from pymongo import AsyncMongoClient
from support import CuttableLink, eventually, free_port

from bobaku.kernel.auth import Role, TokenIssuer
from bobaku.kernel.bus import EventBus
from bobaku.kernel.routing_table import RoutingEntries
from bobaku.kernel.settings import Settings
from bobaku.operator import envtest
from bobaku.operator.envtest import (
    Binaries,
    ControlPlane,
    apply_manifests,
    ensure_namespace,
    load_manifests,
)
from bobaku.operator.kube import Kube, Manifest
from bobaku.services.payment.domain.fees import PROVIDERS

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "scripts" / "k8s" / "build.sh"
CHART = ROOT / "charts" / "bobaku"
PLATFORM_NS = "bobaku-system"
RUN_ID = secrets.token_hex(3)
DB_PREFIX = f"t{RUN_ID}op"
ROUTING_BUCKET = f"bobaku_routing_t{RUN_ID}"
API = "bobaku.io/v1alpha1"
SILO_IMAGE = "ghcr.io/bobaku/bobaku-platform:test"
TOOLS = pytest.StashKey[dict[str, Path]]()
CLUSTER_FIXTURES = {"control_plane", "helm"}


# --------------------------------------------------------------- building the tools ---


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build (or find cached) kube-apiserver, etcd and helm before any test starts."""
    if not any(CLUSTER_FIXTURES & set(getattr(i, "fixturenames", ())) for i in session.items):
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    started = time.monotonic()
    with capture.global_and_fixture_disabled():
        sys.stderr.write(f"\n[operator tests] {BUILD.relative_to(ROOT)} kube-apiserver etcd helm\n")
        result = subprocess.run(
            [str(BUILD), "kube-apiserver", "etcd", "helm"],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise pytest.UsageError(
                f"{BUILD} failed (exit {result.returncode}); see its output above"
            )
        paths = [Path(p) for p in result.stdout.split()]
        elapsed = time.monotonic() - started
        if elapsed > 5:
            sys.stderr.write(f"[operator tests] tools ready after {elapsed:.0f}s\n")
    session.config.stash[TOOLS] = dict(zip(("kube-apiserver", "etcd", "helm"), paths, strict=True))


@pytest.fixture(scope="session")
def tools(pytestconfig: pytest.Config) -> dict[str, Path]:
    return pytestconfig.stash[TOOLS]


@pytest.fixture(scope="session")
def helm(tools: dict[str, Path]) -> Path:
    return tools["helm"]


def render_chart(helm: Path, *args: str, namespace: str = PLATFORM_NS) -> list[Manifest]:
    return envtest.render_chart(helm, CHART, namespace, *args)


# ------------------------------------------------------------------- control plane ---


@pytest.fixture(scope="session")
async def control_plane(
    tools: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ControlPlane]:
    plane = ControlPlane(
        Binaries(tools["kube-apiserver"], tools["etcd"]),
        tmp_path_factory.mktemp("envtest"),
        log=lambda line: sys.stderr.write(line + "\n"),
    )
    try:
        await plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
async def admin(control_plane: ControlPlane) -> AsyncIterator[Kube]:
    async with control_plane.admin() as kube:
        yield kube


def crd_manifests() -> list[Manifest]:
    return [
        m for f in sorted((ROOT / "crds").glob("*.yaml")) for m in load_manifests(f.read_text())
    ]


@pytest.fixture(scope="session")
async def installed(admin: Kube, helm: Path) -> list[Manifest]:
    """CRDs, the platform namespace, HQ config and the operator's RBAC, from the chart."""
    await apply_manifests(admin, crd_manifests())
    await ensure_namespace(admin, PLATFORM_NS)
    rendered = render_chart(helm)
    rbac = [m for m in rendered if m["kind"] in envtest.OPERATOR_RBAC_KINDS]
    hq = [m for m in rendered if m["kind"] == "ConfigMap" and m["metadata"]["name"] == HQ_CONFIG]
    await apply_manifests(admin, rbac + hq)
    return rbac


HQ_CONFIG = "bobaku-hq-config"


# ----------------------------------------------------------------------- operator ---


@dataclass
class OperatorProcess:
    popen: subprocess.Popen[bytes]
    log_path: Path
    kubeconfig: Path
    health_url: str
    metrics_url: str

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text)


# What the session's operator is given as the payment providers' callback keys
# (test_franchise.py expects them in each franchise namespace).
PROVIDER_KEYS = {f"PROVIDER_SECRET_{p.upper()}": f"k-{p}-test-key" for p in PROVIDERS}


def operator_env(kubeconfig: Path, port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "KUBECONFIG": str(kubeconfig),
            "SERVICE_NAME": "bobaku-operator",
            "ENVIRONMENT": "test",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "MONGODB_DB_PREFIX": DB_PREFIX,
            "OPERATOR_NAMESPACE": PLATFORM_NS,
            "ROUTING_BUCKET": ROUTING_BUCKET,
            "OPERATOR_RESYNC_S": "3",
            "OPERATOR_RETRY_S": "1",
            "OPERATOR_SERVICE_IMAGE": SILO_IMAGE,
            "LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env


@pytest.fixture(scope="session")
async def operator_kubeconfig(control_plane: ControlPlane, installed: list[Manifest]) -> Path:
    return await control_plane.service_account_kubeconfig(PLATFORM_NS, "bobaku-operator")


@dataclass
class MenuProcess:
    """The menu service (``python -m bobaku.services.menu``), the operator registers Outlets in."""

    url: str
    service_token: str
    log_path: Path

    async def outlet(self, outlet_id: str) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.url}/outlets/{outlet_id}") as r,
        ):
            return r.status, await r.json()


def _start_menu(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bobaku.services.menu"],
            env=env,
            cwd="/",
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="session")
async def menu_service(
    settings: Settings, token_issuer: TokenIssuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[MenuProcess]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("menu") / "menu.log"
    env = {
        **os.environ,
        "SERVICE_NAME": "menu",
        "ENVIRONMENT": "test",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        # This run's databases, which drop_run_data drops with the operator's.
        "MONGODB_DB_PREFIX": DB_PREFIX,
        "NATS_DEPLOYMENT_ID": settings.nats_names.deployment_id,
        # Durables of its own: with the suite's DEPLOYMENT_ID this session-long process would
        # share the in-process menu harness's durables and take half of its messages.
        "DEPLOYMENT_ID": f"{settings.deployment_id}-om",
        "CONSUMERS_START_AT": "new",
        "JWT_PUBLIC_KEY_FILE": str(settings.jwt_public_key_file),
        "JWT_KEY_ID": settings.jwt_key_id,
    }
    popen = _start_menu(env, log_path)
    process = MenuProcess(
        f"http://127.0.0.1:{port}", token_issuer.issue("bobaku-operator", [Role.SERVICE]), log_path
    )

    async def ready() -> bool:
        assert popen.poll() is None, f"menu exited:\n{log_path.read_text(errors='replace')}"
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{process.url}/readyz") as r,
            ):
                return r.status == 200
        except aiohttp.ClientConnectionError:
            return False

    try:
        await eventually(ready, timeout=30, interval=0.2)
        yield process
    finally:
        popen.terminate()
        try:
            popen.wait(15)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)


@pytest.fixture(scope="session")
def mongo_link(settings: Settings) -> Iterator[CuttableLink]:
    """The operator's way to the shared MongoDB-wire server, which a test can cut
    (test_database_outage.py) without stopping the server the rest of the suite uses."""
    url = urlsplit(settings.mongodb_url)
    link = CuttableLink(url.hostname or "127.0.0.1", url.port or 27017).start()
    yield link
    link.close()


def through(link: CuttableLink, mongodb_url: str) -> str:
    url = urlsplit(mongodb_url)
    auth = url.netloc.rpartition("@")[0]
    netloc = f"{auth}@127.0.0.1:{link.port}" if auth else f"127.0.0.1:{link.port}"
    return urlunsplit(url._replace(netloc=netloc))


@pytest.fixture(scope="session")
async def operator(
    operator_kubeconfig: Path,
    menu_service: MenuProcess,
    mongo_link: CuttableLink,
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[OperatorProcess]:
    port, metrics_port = free_port(), free_port()
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    env = operator_env(
        operator_kubeconfig,
        port,
        OPERATOR_METRICS_PORT=str(metrics_port),
        # The operator reaches the database through the link; the silos it plans are given
        # the server itself.
        MONGODB_URL=through(mongo_link, settings.mongodb_url),
        OPERATOR_TENANT_MONGODB_URL=settings.mongodb_url,
        MENU_URL=menu_service.url,
        SERVICE_TOKEN=menu_service.service_token,
        # The providers' callback keys, which it copies into every franchise namespace.
        **PROVIDER_KEYS,
    )
    popen = envtest.start_operator(env, log_path, cwd=ROOT)
    process = OperatorProcess(
        popen,
        log_path,
        operator_kubeconfig,
        f"http://127.0.0.1:{port}/healthz",
        f"http://127.0.0.1:{metrics_port}/metrics",
    )

    async def healthy() -> bool:
        assert popen.poll() is None, f"operator exited:\n{process.tail()}"
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.write(b"GET /healthz HTTP/1.0\r\n\r\n")
        status = await reader.readline()
        writer.close()
        return b" 200 " in status

    try:
        await eventually(healthy, timeout=30, interval=0.2)
        yield process
    finally:
        popen.terminate()
        try:
            popen.wait(15)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)
        # Only now: while it ran, the operator would have recreated them (drift).
        await drop_run_data()


async def drop_run_data() -> None:
    """This run's databases and routing bucket, on the shared servers."""
    settings = Settings(service_name="operator-tests")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_url, serverSelectionTimeoutMS=3000
    )
    try:
        for name in await client.list_database_names():
            if name.startswith(DB_PREFIX + "_"):
                await client.drop_database(name)
    finally:
        await client.close()
    bus = await EventBus.connect(settings, streams=())
    try:
        with contextlib.suppress(Exception):  # absent when no Franchise got that far
            await bus.js.delete_key_value(ROUTING_BUCKET)
    finally:
        await bus.close()


# ----------------------------------------------------------- infrastructure views ---


@pytest.fixture(scope="session")
async def mongo() -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        Settings().mongodb_url, serverSelectionTimeoutMS=3000
    )
    yield client
    await client.close()


@pytest.fixture(scope="session")
async def routing() -> AsyncIterator[RoutingEntries]:
    bus = await EventBus.connect(Settings(service_name="operator-tests"), streams=())
    yield RoutingEntries(bus, ROUTING_BUCKET)
    await bus.close()


# ------------------------------------------------------------------------ helpers ---


def condition(body: Mapping[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in ((body or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


class Cluster:
    """What the tests do as the cluster admin: apply, read, wait for conditions."""

    platform_ns = PLATFORM_NS
    db_prefix = DB_PREFIX
    routing_bucket = ROUTING_BUCKET
    silo_image = SILO_IMAGE

    def __init__(self, kube: Kube, operator: OperatorProcess | None) -> None:
        self.kube = kube
        self.operator = operator
        self.created: list[tuple[str, str]] = []

    def db_name(self, franchise: str) -> str:
        return f"{DB_PREFIX}_fr_{franchise.replace('-', '_')}"

    @staticmethod
    def condition(body: Mapping[str, Any] | None, type_: str) -> dict[str, Any]:
        return condition(body, type_)

    async def apply(self, kind: str, name: str, spec: Mapping[str, Any], **meta: Any) -> Manifest:
        manifest = {"apiVersion": API, "kind": kind, "metadata": {"name": name, **meta}}
        manifest["spec"] = dict(spec)
        if (kind, name) not in self.created:
            self.created.append((kind, name))
        return await self.kube.apply(manifest)

    async def clean_up(self) -> None:
        """Delete what the test created, so the operator's resyncs stay few."""
        for kind, name in reversed(self.created):
            await self.kube.delete(API, kind, name)
        self.created.clear()

    async def get(self, kind: str, name: str) -> Manifest | None:
        return await self.kube.get(API, kind, name)

    async def wait_for(
        self, kind: str, name: str, type_: str, status: str = "True", *, timeout: float = 30.0
    ) -> Manifest:
        """Wait until condition ``type_`` has ``status`` for the current generation."""

        async def probe() -> Manifest | None:
            body = await self.get(kind, name)
            found = condition(body, type_)
            generation = (body or {}).get("metadata", {}).get("generation")
            if found.get("status") == status and found.get("observedGeneration") == generation:
                return body
            return None

        try:
            result: Manifest = await eventually(probe, timeout=timeout, interval=0.1)
        except AssertionError as exc:
            body = await self.get(kind, name)
            status_now = json.dumps((body or {}).get("status"), indent=1)
            log = self.operator.tail() if self.operator else ""
            raise AssertionError(
                f"{kind} {name}: {type_} != {status} after {timeout}s; status: {status_now}\n"
                f"operator log (last lines):\n{log}"
            ) from exc
        return result

    async def events(self, name: str) -> list[Manifest]:
        return await self.kube.list(
            "v1", "Event", PLATFORM_NS, fields={"involvedObject.name": name}
        )

    async def event_reasons(self, name: str) -> set[str]:
        return {e.get("reason", "") for e in await self.events(name)}

    async def gone(self, kind: str, name: str, timeout: float = 30.0) -> None:
        async def probe() -> bool:
            return await self.get(kind, name) is None

        await eventually(probe, timeout=timeout, interval=0.1)


@pytest.fixture(scope="session")
def session_cluster(admin: Kube, operator: OperatorProcess) -> Cluster:
    return Cluster(admin, operator)


@pytest.fixture
async def cluster(session_cluster: Cluster) -> AsyncIterator[Cluster]:
    yield session_cluster
    await session_cluster.clean_up()


@pytest.fixture
def unique() -> str:
    """A short name no other test uses (the control plane lives for the whole session)."""
    return secrets.token_hex(2)
