"""A real Kubernetes control plane for tests and benchmarks: etcd + kube-apiserver.

Like controller-runtime's envtest: the real API server (schemas, defaulting, CEL rules,
RBAC, server-side apply, status subresources, finalizers, watches), started on loopback
ports with its data in a temporary directory. There is no controller-manager, scheduler or
kubelet, so pods never run, Deployments never report available replicas and namespaces
stay ``Terminating`` once deleted.

Identities: an admin (client certificate in ``system:masters``) for the harness itself,
and service-account tokens (TokenRequest) for processes that must run with their own
RBAC, like the operator.

The binaries come from ``scripts/k8s/build.sh`` (built once from Go modules, cached).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import importlib
import ipaddress
import json
import socket

# B404: the test control plane starts our own pinned binaries
import subprocess  # nosec B404
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from bobaku.operator.kube import Conflict, Credentials, Kube, KubeError, Manifest, NotFound

Log = Callable[[str], None]
Popen = subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_manifests(text: str) -> list[Manifest]:
    """The objects of a multi-document YAML text (empty documents skipped)."""
    yaml: Any = importlib.import_module("yaml")  # PyYAML, a dependency of `kubernetes`
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict) and doc]


# ------------------------------------------------------------------- certificates ---


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class CertificateAuthority:
    """A throwaway CA that signs the serving certificate and client certificates."""

    def __init__(self, name: str = "bobaku-envtest-ca") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        *,
        organization: str | None = None,
        server: bool = False,
        hosts: Sequence[str] = (),
    ) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usage = x509.oid.ExtendedKeyUsageOID
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organization))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([usage.SERVER_AUTH if server else usage.CLIENT_AUTH]),
                critical=False,
            )
        )
        if hosts:
            names: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


# --------------------------------------------------------------------- processes ---


@dataclass
class Process:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        # B603: argv of our own binaries, no shell
        self.popen = subprocess.Popen(  # nosec B603
            self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace_s: float = 10.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


class StartupError(RuntimeError):
    pass


async def wait_until(
    probe: Callable[[], Any], *, process: Process, timeout_s: float, what: str
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if not process.alive():
            raise StartupError(f"{process.name} exited while starting:\n{process.tail()}")
        with contextlib.suppress(Exception):
            if await probe():
                return
        if time.monotonic() > deadline:
            raise StartupError(f"{what} not ready after {timeout_s:.0f}s:\n{process.tail()}")
        await asyncio.sleep(0.1)


# ------------------------------------------------------------------ control plane ---


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    etcd: Path


@dataclass
class ControlPlane:
    """etcd and kube-apiserver on 127.0.0.1, with RBAC and service-account tokens."""

    binaries: Binaries
    workdir: Path
    log: Log = print
    extra_apiserver_flags: Sequence[str] = ()
    etcd_port: int = field(default_factory=free_port)
    etcd_peer_port: int = field(default_factory=free_port)
    port: int = field(default_factory=free_port)
    _processes: list[Process] = field(default_factory=list)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    async def start(self, timeout_s: float = 90.0) -> None:
        """Start etcd, then kube-apiserver; on failure nothing is left running."""
        try:
            await self._start(timeout_s)
        except BaseException:
            self.stop()
            raise

    async def _start(self, timeout_s: float) -> None:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_pki()
        etcd = Process(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=envtest",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{self.etcd_peer_port}",
                f"--initial-cluster=envtest=http://127.0.0.1:{self.etcd_peer_port}",
                "--unsafe-no-fsync",  # throwaway data: speed over durability
                "--log-level=warn",
            ],
            self.workdir / "etcd.log",
        )
        etcd.start()
        self._processes.append(etcd)
        async with aiohttp.ClientSession() as http:

            async def etcd_healthy() -> bool:
                async with http.get(f"http://127.0.0.1:{self.etcd_port}/health") as r:
                    return r.status == 200 and json.loads(await r.text()).get("health") == "true"

            await wait_until(etcd_healthy, process=etcd, timeout_s=timeout_s, what="etcd")
        self.log(f"[envtest] etcd up on 127.0.0.1:{self.etcd_port}")

        pki = self.pki
        apiserver = Process(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--cert-dir={self.workdir / 'apiserver'}",
                f"--tls-cert-file={pki / 'serving.crt'}",
                f"--tls-private-key-file={pki / 'serving.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--allow-privileged=true",
                # No token controller here to give pods service-account tokens.
                "--disable-admission-plugins=ServiceAccount",
                "--endpoint-reconciler-type=none",
                "--max-requests-inflight=1000",
                "--max-mutating-requests-inflight=500",
                "--profiling=false",
                *self.extra_apiserver_flags,
            ],
            self.workdir / "kube-apiserver.log",
        )
        apiserver.start()
        self._processes.append(apiserver)
        self._write_kubeconfig(
            self.admin_kubeconfig,
            user={
                "client-certificate": str(pki / "admin.crt"),
                "client-key": str(pki / "admin.key"),
            },
        )
        async with self.admin() as kube:

            async def ready() -> bool:
                await kube.request("GET", "/readyz")  # raises until it answers 200
                return True

            await wait_until(ready, process=apiserver, timeout_s=timeout_s, what="kube-apiserver")
            # The system namespaces appear shortly after /readyz.
            await wait_until(
                lambda: kube.get("v1", "Namespace", "default"),
                process=apiserver,
                timeout_s=timeout_s,
                what="namespace default",
            )
        self.log(
            f"[envtest] kube-apiserver up at {self.server} "
            f"({time.monotonic() - started:.1f}s, data in {self.workdir})"
        )

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()

    def admin(self, field_manager: str = "bobaku-envtest") -> Kube:
        """A client with the admin identity (``system:masters``)."""
        path = self.admin_kubeconfig
        return Kube(lambda: Credentials.load(path), field_manager=field_manager)

    async def service_account_kubeconfig(
        self, namespace: str, name: str, *, hours: int = 24
    ) -> Path:
        """A kubeconfig that authenticates as ``system:serviceaccount:<ns>:<name>``."""
        async with self.admin() as kube:
            response = await kube.request(
                "POST",
                f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                body={
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenRequest",
                    "spec": {"expirationSeconds": hours * 3600},
                },
            )
        path = self.workdir / f"sa-{namespace}-{name}.kubeconfig"
        self._write_kubeconfig(path, user={"token": response["status"]["token"]})
        return path

    # ---------------------------------------------------------------------- internals ---

    def _write_pki(self) -> None:
        pki = self.pki
        pki.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority()
        serving = ca.issue(
            "kube-apiserver",
            server=True,
            hosts=[
                "127.0.0.1",
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "10.96.0.1",
            ],
        )
        admin = ca.issue("bobaku-envtest-admin", organization="system:masters")
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        files = {
            "ca.crt": ca.cert_pem,
            "serving.crt": serving.cert_pem,
            "serving.key": serving.key_pem,
            "admin.crt": admin.cert_pem,
            "admin.key": admin.key_pem,
            "sa.key": _key_pem(sa_key),
            "sa.pub": sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        }
        for name, data in files.items():
            (pki / name).write_bytes(data)
            (pki / name).chmod(0o600)

    def _write_kubeconfig(self, path: Path, user: dict[str, str]) -> None:
        ca = base64.b64encode((self.pki / "ca.crt").read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "envtest",
                    "cluster": {"server": self.server, "certificate-authority-data": ca},
                }
            ],
            "users": [{"name": "envtest-user", "user": user}],
            "contexts": [
                {"name": "envtest", "context": {"cluster": "envtest", "user": "envtest-user"}}
            ],
            "current-context": "envtest",
        }
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        path.chmod(0o600)


# ----------------------------------------------------------------------- applying ---

# What the chart installs for the operator's identity (applied before it starts).
OPERATOR_RBAC_KINDS = frozenset(
    {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
)


def render_chart(helm: Path, chart: Path, namespace: str, *args: str) -> list[Manifest]:
    """``helm template`` of ``chart``, parsed."""
    # B603: the pinned helm binary, no shell
    out = subprocess.run(  # nosec B603
        [str(helm), "template", "bobaku", str(chart), "--namespace", namespace, *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return load_manifests(out)


def start_operator(env: Mapping[str, str], log_path: Path, cwd: Path | None = None) -> Popen:
    """``python -P -m bobaku.operator`` with ``env``, its output appended to ``log_path``.

    ``-P``: never put the working directory on ``sys.path``, where a repository checkout's
    ``operator/`` folder would shadow the standard library's ``operator``.
    """
    with log_path.open("ab") as log:
        # B603: this interpreter running our operator, no shell
        return subprocess.Popen(  # nosec B603
            [sys.executable, "-P", "-m", "bobaku.operator"],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )


async def apply_manifests(
    kube: Kube, manifests: Iterable[Manifest], *, dry_run: bool = False
) -> list[Manifest]:
    """Server-side apply each object in order, waiting for each new CRD to be served."""
    results = []
    for manifest in manifests:
        results.append(await kube.apply(manifest, dry_run=dry_run))
        if manifest["kind"] == "CustomResourceDefinition" and not dry_run:
            await wait_for_crd(kube, manifest)
    return results


async def wait_for_crd(kube: Kube, crd: Manifest, timeout_s: float = 30.0) -> None:
    name = crd["metadata"]["name"]
    group = crd["spec"]["group"]
    version = next(v["name"] for v in crd["spec"]["versions"] if v.get("served", True))
    kind = crd["spec"]["names"]["kind"]
    deadline = time.monotonic() + timeout_s
    while True:
        current = await kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        status = (current or {}).get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        if conditions.get("Established") == "True":
            with contextlib.suppress(NotFound):
                # Served, and its storage ready (a list answers 429 until it is).
                await kube.list(f"{group}/{version}", kind)
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRD {name} not established after {timeout_s}s: {conditions}")
        await asyncio.sleep(0.1)


async def ensure_namespace(kube: Kube, name: str) -> None:
    with contextlib.suppress(Conflict):
        await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


__all__ = [
    "OPERATOR_RBAC_KINDS",
    "Binaries",
    "CertificateAuthority",
    "ControlPlane",
    "KubeError",
    "StartupError",
    "apply_manifests",
    "ensure_namespace",
    "free_port",
    "load_manifests",
    "render_chart",
    "start_operator",
    "wait_for_crd",
]
