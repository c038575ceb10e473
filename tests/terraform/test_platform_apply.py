"""terraform/platform applied for real to a kube-apiserver, changed, and destroyed.

The control plane is the suite's etcd + kube-apiserver (no kubelet, no controllers): the
helm releases are installed (the chart's CRDs, RBAC, Deployments and Services are stored and
validated by the API server) and the Franchise/Outlet resources and Ingresses are created
exactly as on EKS; no pod starts, so the releases are applied with wait = false. State lives
in a temporary folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from terraform_testkit import Tofu

from bobaku.operator.envtest import ControlPlane

API = "bobaku.io/v1alpha1"
REGISTRY = "registry.invalid/bobaku"


def tfvars(
    kubeconfig: Path, releases: dict[str, str], live: str, outlets: dict[str, object]
) -> dict[str, object]:
    return {
        "kubeconfig": str(kubeconfig),
        "environment": "test",
        "image_registry": REGISTRY,
        "operator_image_tag": "1.4.0",
        "releases": {colour: {"image_tag": tag} for colour, tag in releases.items()},
        "live": live,
        "wait": False,
        "servers": {
            "nats_url": "nats://nats.nats.svc:4222",
            "redis_url": "redis://redis.invalid:6379/0",
            "mongodb_secret_name": "bobaku-mongodb",
        },
        "ingress": {
            "enabled": True,
            "api_host": "api.bobaku.test",
            "hub_host": "hub.bobaku.test",
            "certificate_arn": "arn:aws:acm:ap-southeast-1:123456789012:certificate/test",
        },
        "franchises": {
            "tf-jakarta": {
                "display_name": "BobaKu Jakarta",
                "tier": "medium",
                "config": {"pricing": {"taxRateBp": 1000}},
                "outlets": outlets,
            }
        },
    }


def hosts(ingress: dict[str, object] | None) -> list[str]:
    assert ingress is not None
    return [rule["host"] for rule in ingress["spec"]["rules"]]  # type: ignore[index]


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_platform_layer_applies_switches_colour_and_destroys(
    tofu: Tofu, workspace: Path, kube_plane: ControlPlane, tmp_path: Path
) -> None:
    layer = workspace / "terraform" / "platform"
    state = tmp_path / "platform.tfstate"
    varfile = tmp_path / "test.tfvars.json"
    tofu.init(layer)

    def apply(variables: dict[str, object]) -> None:
        varfile.write_text(json.dumps(variables))
        tofu.run(
            layer, "apply", "-auto-approve", f"-state={state}", f"-var-file={varfile}", timeout=600
        )

    outlets = {
        "tf-kemang": {"display_name": "Kemang", "city": "Jakarta", "stations": 3},
        "tf-senayan": {"display_name": "Senayan"},
    }
    apply(tfvars(kube_plane.admin_kubeconfig, {"blue": "1.4.0"}, "blue", outlets))

    async with kube_plane.admin() as kube:
        franchise = await kube.get(API, "Franchise", "tf-jakarta")
        assert franchise is not None
        assert franchise["spec"]["tier"] == "medium"
        assert franchise["spec"]["config"] == {"pricing": {"taxRateBp": 1000}}
        kemang = await kube.get(API, "Outlet", "tf-kemang")
        assert kemang is not None
        assert kemang["spec"]["franchiseRef"] == "tf-jakarta"
        assert kemang["spec"]["stations"] == 3
        senayan = await kube.get(API, "Outlet", "tf-senayan")
        assert senayan is not None
        assert senayan["spec"]["stations"] == 2  # the layer's default

        operator = await kube.get("apps/v1", "Deployment", "bobaku-operator", "bobaku-system")
        assert operator is not None
        assert (
            operator["spec"]["template"]["spec"]["containers"][0]["image"]
            == f"{REGISTRY}/bobaku-operator:1.4.0"
        )
        assert await kube.get("apps/v1", "Deployment", "gateway", "bobaku-system") is None
        gateway = await kube.get("apps/v1", "Deployment", "gateway", "bobaku-blue")
        assert gateway is not None
        assert (
            gateway["spec"]["template"]["spec"]["containers"][0]["image"]
            == f"{REGISTRY}/bobaku-platform:1.4.0"
        )
        assert await kube.get("apps/v1", "Deployment", "bobaku-operator", "bobaku-blue") is None
        assert hosts(
            await kube.get("networking.k8s.io/v1", "Ingress", "bobaku", "bobaku-blue")
        ) == [
            "api.bobaku.test",
            "hub.bobaku.test",
        ]

    # Green beside blue, then traffic switched to green; one outlet closes.
    apply(
        tfvars(
            kube_plane.admin_kubeconfig,
            {"blue": "1.4.0", "green": "1.5.0"},
            "green",
            {"tf-kemang": outlets["tf-kemang"]},
        )
    )
    async with kube_plane.admin() as kube:
        green = await kube.get("apps/v1", "Deployment", "gateway", "bobaku-green")
        assert green is not None
        assert (
            green["spec"]["template"]["spec"]["containers"][0]["image"]
            == f"{REGISTRY}/bobaku-platform:1.5.0"
        )
        assert hosts(
            await kube.get("networking.k8s.io/v1", "Ingress", "bobaku", "bobaku-green")
        ) == [
            "api.bobaku.test",
            "hub.bobaku.test",
        ]
        assert hosts(
            await kube.get("networking.k8s.io/v1", "Ingress", "bobaku", "bobaku-blue")
        ) == [
            "blue-api.bobaku.test",
            "blue-hub.bobaku.test",
        ]
        assert await kube.get(API, "Outlet", "tf-senayan") is None
        assert await kube.get(API, "Outlet", "tf-kemang") is not None

    tofu.run(
        layer, "destroy", "-auto-approve", f"-state={state}", f"-var-file={varfile}", timeout=600
    )
    async with kube_plane.admin() as kube:
        assert await kube.get(API, "Franchise", "tf-jakarta") is None
        assert await kube.get(API, "Outlet", "tf-kemang") is None
        for namespace in ["bobaku-blue", "bobaku-green"]:
            assert await kube.get("apps/v1", "Deployment", "gateway", namespace) is None
            assert await kube.get("networking.k8s.io/v1", "Ingress", "bobaku", namespace) is None
        assert await kube.get("apps/v1", "Deployment", "bobaku-operator", "bobaku-system") is None
    assert json.loads(state.read_text())["resources"] == []
