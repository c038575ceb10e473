"""OpenTofu, the providers and a real control plane for the terraform/ checks.

- Before any test runs (so no test timeout applies), ``scripts/terraform/build.sh all``
  builds tofu and the helm and kubectl providers from Go modules once (cached under
  ~/.cache/bobaku) and writes the CLI configuration that installs providers from that mirror
  only; ``scripts/k8s/build.sh`` does the same for kube-apiserver and etcd when a test
  needs the control plane.
- ``workspace``: a copy of terraform/, the chart and the Prometheus rules in a temporary
  folder, so ``tofu init`` (.terraform/, the lock file) never writes into the checkout.
- ``kube_plane``: etcd + kube-apiserver on loopback (no kubelet: objects are stored and
  validated, no pod runs), the cluster the platform layer is applied to.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from terraform_testkit import ROOT, Tofu

from bobaku.operator.envtest import Binaries, ControlPlane

TF_BUILD = ROOT / "scripts" / "terraform" / "build.sh"
K8S_BUILD = ROOT / "scripts" / "k8s" / "build.sh"
TOOLS = pytest.StashKey[dict[str, Path]]()
HERE = Path(__file__).resolve().parent


def _build(script: Path, *targets: str) -> list[Path]:
    sys.stderr.write(f"\n[terraform tests] {script.relative_to(ROOT)} {' '.join(targets)}\n")
    result = subprocess.run([str(script), *targets], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        raise pytest.UsageError(f"{script} failed (exit {result.returncode}); see its output above")
    return [Path(p) for p in result.stdout.split()]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build (or find cached) tofu, the providers and, if needed, the control plane."""
    ours = [i for i in session.items if Path(str(i.path)).is_relative_to(HERE)]
    if not ours:
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    started = time.monotonic()
    with capture.global_and_fixture_disabled():
        tofu, cliconfig = _build(TF_BUILD, "all")
        tools = {"tofu": tofu, "cliconfig": cliconfig}
        if any("kube_plane" in getattr(i, "fixturenames", ()) for i in ours):
            apiserver, etcd = _build(K8S_BUILD, "kube-apiserver", "etcd")
            tools |= {"kube-apiserver": apiserver, "etcd": etcd}
        elapsed = time.monotonic() - started
        if elapsed > 5:
            sys.stderr.write(f"[terraform tests] tools ready after {elapsed:.0f}s\n")
    session.config.stash[TOOLS] = tools


@pytest.fixture(scope="session")
def tools(pytestconfig: pytest.Config) -> dict[str, Path]:
    return pytestconfig.stash[TOOLS]


@pytest.fixture(scope="session")
def tofu(tools: dict[str, Path]) -> Tofu:
    return Tofu(tools["tofu"], tools["cliconfig"])


COPIED: Sequence[tuple[str, ...]] = (
    ("terraform",),
    ("charts", "bobaku"),
    ("monitoring", "prometheus", "rules"),
)


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """terraform/ and what it reads from the repository, copied (without .terraform/)."""
    root = tmp_path_factory.mktemp("tf-workspace")
    for parts in COPIED:
        shutil.copytree(
            ROOT.joinpath(*parts),
            root.joinpath(*parts),
            ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"),
        )
    return root


@pytest.fixture(scope="session")
async def kube_plane(
    tools: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ControlPlane]:
    plane = ControlPlane(
        Binaries(tools["kube-apiserver"], tools["etcd"]),
        tmp_path_factory.mktemp("tf-envtest"),
        log=lambda line: sys.stderr.write(line + "\n"),
    )
    try:
        await plane.start()
        yield plane
    finally:
        plane.stop()
