"""terraform/platform applied for real to the one-node cluster, with every pod running.

``tofu apply`` (state in a temporary folder, ``wait = true``) installs the operator's release
(with the chart's single-node NATS, Redis and FerretDB: ``in_cluster_servers``), the blue
colour (gateway, hub, the shared services) and a Franchise with one Outlet from the layer's
variables; the test then checks what runs: the operator and every Deployment of blue Ready,
the Franchise and Outlet Ready (the outlet registered in blue's menu service), the silo's
pods Available and given blue's hub and services, the gateway's /readyz through its Service
address. ``tofu destroy`` then retires the franchise (the operator's finalizer: its
namespace goes) before the releases, and nothing of the layer is left.

Run by ``make e2e-terraform`` against ``scripts/k8s/cluster.sh up`` with the images imported
(KUBECONFIG and KUBECTL set); not part of ``make test`` (its ``testpaths`` leave out e2e/).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_testkit import answer, get, kubectl, until
from terraform_testkit import ROOT, Tofu

KUBECONFIG = os.environ.get("KUBECONFIG", "")
FRANCHISE = "tf-node"
OUTLET = "tf-node-kemang"
SYSTEM, BLUE, SILO = "bobaku-system", "bobaku-blue", f"bobaku-fr-{FRANCHISE}"


def condition(body: dict[str, Any] | None, type_: str) -> bool:
    """True once the operator reports ``type_`` True for the object's current generation."""
    status = (body or {}).get("status") or {}
    generation = (body or {}).get("metadata", {}).get("generation")
    return any(
        c.get("type") == type_ and c.get("status") == "True"
        and c.get("observedGeneration") == generation
        for c in status.get("conditions") or []
    )  # fmt: skip


def deployments_ready(namespace: str) -> dict[str, int]:
    """Each Deployment of the namespace and its ready replicas; every one must be fully ready."""
    items = (get("deployments", "-n", namespace) or {}).get("items") or []
    ready = {d["metadata"]["name"]: d["status"].get("readyReplicas", 0) for d in items}
    for d in items:
        name = d["metadata"]["name"]
        assert ready[name] == d["spec"]["replicas"] >= 1, f"{namespace}/{name}: {d['status']}"
    return ready


def layer_objects(namespace: str) -> list[str]:
    """What the releases made in the namespace (the test's own Secrets aside)."""
    kinds = "deployments,statefulsets,services,pods,configmaps,secrets,networkpolicies"
    items = (get(kinds, "-n", namespace) or {}).get("items") or []
    mine = {"bobaku-jwt", "bobaku-service-token", "kube-root-ca.crt"}
    return sorted(
        f"{i['kind']}/{i['metadata']['name']}" for i in items if i["metadata"]["name"] not in mine
    )


def diagnostics() -> None:
    for args in (
        ["get", "franchises,outlets", "-o", "wide"],
        ["get", "pods", "-A", "-o", "wide"],
        ["-n", SYSTEM, "logs", "deploy/bobaku-operator", "--tail=80"],
        ["get", "events", "-A", "--sort-by=.lastTimestamp"],
    ):
        out = kubectl(*args, check=False)
        sys.stderr.write(f"\n$ kubectl {' '.join(args)}\n{out[-6000:]}\n")


@pytest.fixture(scope="module")
def tofu() -> Tofu:
    """tofu and the mirror-only CLI configuration (scripts/terraform/build.sh; cached)."""
    out = subprocess.run(
        [str(ROOT / "scripts" / "terraform" / "build.sh"), "all"],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout.split()
    return Tofu(Path(out[0]), Path(out[1]))


@pytest.fixture(scope="module")
def clean_node() -> None:
    """The node without `make e2e`'s platform: that harness keeps its release `bobaku` in
    bobaku-system between runs (warm runs reuse it), and the layer installs its own there.
    Its franchises are offboarded at the end of every run; if one is left, it goes first."""
    helm = subprocess.run(
        [str(ROOT / "scripts" / "k8s" / "build.sh"), "helm"],
        stdout=subprocess.PIPE, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    for kind in ("outlets", "franchises"):
        kubectl("delete", kind, "--all", "--ignore-not-found", "--timeout=180s", check=False)
    if get("namespace", SYSTEM) is not None:
        subprocess.run(
            [helm, "uninstall", "bobaku", "--namespace", SYSTEM, "--wait", "--timeout", "180s",
             "--ignore-not-found"],
            env={**os.environ, "KUBECONFIG": KUBECONFIG}, capture_output=True, text=True,
            timeout=240, check=True,
        )  # fmt: skip
        kubectl("delete", "namespace", SYSTEM, "--ignore-not-found", "--timeout=180s")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("jwt")
    token = ROOT / "e2e" / "token.py"
    subprocess.run([sys.executable, str(token), "keys", str(directory)], check=True)
    service = subprocess.run(
        [sys.executable, str(token), "service", str(directory)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout.strip()
    (directory / "service-token").write_text(service)
    return directory


def secrets(keys: Path) -> None:
    """What the releases mount, before they are installed (on EKS External Secrets writes
    them, docs/deployment.md): the JWT key pair and the service token in the operator's
    namespace and blue's."""
    for namespace in (SYSTEM, BLUE):
        for manifest in (
            kubectl("create", "namespace", namespace, "--dry-run=client", "-o", "yaml"),
            kubectl(
                "-n", namespace, "create", "secret", "generic", "bobaku-jwt",
                f"--from-file=public.pem={keys / 'public.pem'}",
                f"--from-file=private.pem={keys / 'private.pem'}",
                "--dry-run=client", "-o", "yaml",
            ),
            kubectl(
                "-n", namespace, "create", "secret", "generic", "bobaku-service-token",
                f"--from-file=SERVICE_TOKEN={keys / 'service-token'}",
                "--dry-run=client", "-o", "yaml",
            ),
        ):  # fmt: skip
            kubectl("apply", "-f", "-", input=manifest)


def variables(nats_dir: Path) -> dict[str, Any]:
    """The layer's variables for this node, the chart values from e2e/cluster-values.yaml:
    local images never pulled, small resources, no silo autoscalers (no metrics server)."""
    node = yaml.safe_load((ROOT / "e2e" / "cluster-values.yaml").read_text())
    never = {"pullPolicy": "Never"}
    colour = {k: node[k] for k in ("devServers", "gateway", "hub", "services", "serviceResources")}
    return {
        "kubeconfig": KUBECONFIG,
        "environment": "test",
        "image_registry": node["image"]["registry"],
        "operator_image_tag": node["image"]["tag"],
        "in_cluster_servers": True,
        "operator_values": {
            "image": never,
            "devServers": node["devServers"],
            "operator": node["operator"],
            "nats": {"hostPath": str(nats_dir)},
        },
        "releases": {
            "blue": {"image_tag": node["image"]["tag"], "values": {"image": never, **colour}}
        },
        "live": "blue",
        "jwt_secret_name": node["auth"]["jwtSecret"],
        "service_token_secret_name": node["auth"]["serviceTokenSecret"],
        "ingress": {"enabled": False, "api_host": "", "hub_host": ""},
        "wait": True,
        "franchises": {
            FRANCHISE: {
                "display_name": "BobaKu Terraform Node",
                # One 2-core node: the platform and one franchise at tier small.
                "tier": "small",
                "retention": "Delete",
                "outlets": {OUTLET: {"display_name": "Kemang", "city": "Jakarta"}},
            }
        },
    }


@pytest.mark.timeout(1800)
@pytest.mark.usefixtures("clean_node")
def test_the_platform_layer_runs_a_franchise_on_the_node_and_is_destroyed(
    tofu: Tofu, keys: Path, tmp_path: Path
) -> None:
    assert KUBECONFIG, "KUBECONFIG: the one-node cluster's (scripts/k8s/cluster.sh kubeconfig)"
    for namespace in (SYSTEM, BLUE, SILO):
        assert get("namespace", namespace) is None, f"{namespace} exists: the node is not clean"
    # The layer and the chart copied, so init's .terraform/ never lands in the checkout.
    layer = tmp_path / "terraform" / "platform"
    shutil.copytree(ROOT / "terraform" / "platform", layer)
    shutil.copytree(ROOT / "charts" / "bobaku", tmp_path / "charts" / "bobaku")
    state, varfile = tmp_path / "platform.tfstate", tmp_path / "node.tfvars.json"
    nats_dir = tmp_path / "nats"
    nats_dir.mkdir()
    os.chown(nats_dir, 1000, 1000)
    varfile.write_text(json.dumps(variables(nats_dir)))
    tf = ("-auto-approve", f"-state={state}", f"-var-file={varfile}")
    tofu.init(layer)
    secrets(keys)
    destroyed = False
    try:
        started = time.monotonic()
        tofu.run(layer, "apply", *tf, timeout=1200)
        sys.stderr.write(f"\n[platform layer] applied in {time.monotonic() - started:.0f}s\n")

        # The operator's release: the operator and the single-node servers, no gateway.
        system = deployments_ready(SYSTEM)
        assert system.keys() == {"bobaku-operator", "redis", "mongodb"}, system
        nats = get("statefulset", "nats", "-n", SYSTEM)
        assert nats is not None
        assert nats["status"].get("readyReplicas") == 1
        # The live colour: gateway, hub and every shared service Ready.
        blue = deployments_ready(BLUE)
        assert {"gateway", "hub", "customer", "menu", "order", "payment"} <= blue.keys(), blue
        assert "bobaku-operator" not in blue

        # The Franchise and its Outlet, from the variables, Ready; the outlet registered in
        # blue's menu service (the operator reaches it through operator.platformNamespace).
        outlet = until(
            f"Outlet {OUTLET} Ready",
            lambda: (o := get("outlet", OUTLET)) and condition(o, "Ready") and o,
            300,
        )
        assert outlet["spec"]["franchiseRef"] == FRANCHISE
        franchise = until(
            f"Franchise {FRANCHISE} Ready and Available with {OUTLET}",
            lambda: (
                (f := get("franchise", FRANCHISE))
                and condition(f, "Ready")
                and condition(f, "Available")
                and f["status"].get("outlets") == [OUTLET]
                and f
            ),
            300,
        )
        assert franchise["spec"]["tier"] == "small"
        silo = deployments_ready(SILO)
        assert len(silo) >= 1, silo
        for d in (get("deployments", "-n", SILO) or {})["items"]:
            available = {c["type"]: c["status"] for c in d["status"].get("conditions", [])}
            assert available.get("Available") == "True", d["metadata"]["name"]
        # The silo is given the live colour's hub and brand-wide services.
        config = get("configmap", "bobaku-franchise-config", "-n", SILO)
        assert config is not None
        assert config["data"]["HUB_URL"] == f"http://hub.{BLUE}.svc:8080"
        assert config["data"]["CUSTOMER_URL"] == f"http://customer.{BLUE}.svc:8080"
        assert config["data"]["NATS_URL"] == f"nats://nats.{SYSTEM}.svc:4222"

        # The host reaches Service addresses on this node (kube-proxy's rules).
        gateway = get("service", "gateway", "-n", BLUE)
        assert gateway is not None
        status, _ = answer(f"http://{gateway['spec']['clusterIP']}:8080/readyz")
        assert status == 200

        started = time.monotonic()
        tofu.run(layer, "destroy", *tf, timeout=900)
        destroyed = True
        sys.stderr.write(f"[platform layer] destroyed in {time.monotonic() - started:.0f}s\n")
        assert json.loads(state.read_text())["resources"] == []
        assert get("franchise", FRANCHISE) is None
        assert get("outlet", OUTLET) is None
        # The operator retired the franchise before its release went: the namespace is gone
        # (deleted, not left Terminating behind a finalizer nobody serves).
        until(f"namespace {SILO} gone", lambda: get("namespace", SILO) is None or None, 180)
        for namespace in (SYSTEM, BLUE):
            releases = kubectl("-n", namespace, "get", "secrets", "-l", "owner=helm", "-o", "name")
            assert releases == "", releases
            until(
                f"the releases' objects in {namespace} gone",
                lambda ns=namespace: not layer_objects(ns) or None,
                180,
            )
    except BaseException:
        diagnostics()
        raise
    finally:
        if not destroyed:
            tofu.run(layer, "destroy", *tf, timeout=900, check=False)
        for namespace in (SYSTEM, BLUE):
            kubectl(
                "delete", "namespace", namespace, "--ignore-not-found", "--wait=false", check=False
            )
