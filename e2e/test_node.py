"""The one-node cluster runs real pods: scheduled, started by containerd and runc, given an
address by the CNI bridge, probed Ready by the kubelet, reached through a Service by
name (CoreDNS, kube-proxy) from another pod, and from the host.

Run by ``make e2e`` against ``scripts/k8s/cluster.sh up`` (KUBECONFIG and KUBECTL set);
skipped by ``make test``, whose ``testpaths`` do not include e2e/.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator

import pytest
from kube_testkit import answer, kubectl

IMAGE = os.environ.get("BOBAKU_PLATFORM_IMAGE", "bobaku.local/bobaku-platform:dev")

# A tiny HTTP server in our platform image: answers with its pod name.
SERVER = (
    "import http.server, os\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = ('hello from ' + os.environ['POD_NAME']).encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers(); self.wfile.write(body)\n"
    "http.server.HTTPServer(('0.0.0.0', 8080), H).serve_forever()\n"
)


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    name = f"node-test-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def manifest(namespace: str) -> str:
    pod_name = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "echo", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "echo"}},
            "template": {
                "metadata": {"labels": {"app": "echo"}},
                "spec": {
                    "containers": [
                        {
                            "name": "echo",
                            "image": IMAGE,
                            "imagePullPolicy": "Never",
                            "command": ["python", "-c", SERVER],
                            "env": [pod_name],
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": "http"},
                                "periodSeconds": 1,
                            },
                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                        }
                    ]
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "echo", "namespace": namespace},
        "spec": {"selector": {"app": "echo"}, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    return "\n---\n".join(json.dumps(m) for m in (deployment, service))


@pytest.mark.timeout(420)
def test_a_pod_becomes_ready_and_answers_through_its_service(namespace: str) -> None:
    kubectl("apply", "-f", "-", input=manifest(namespace))
    kubectl("-n", namespace, "rollout", "status", "deployment/echo", "--timeout=180s")
    pod = json.loads(kubectl("-n", namespace, "get", "pods", "-l", "app=echo", "-o", "json"))[
        "items"
    ][0]
    assert pod["status"]["phase"] == "Running"
    pod_ip = pod["status"]["podIP"]
    assert pod_ip.startswith("10.244.0."), pod_ip

    # From the host to the pod's address on the bridge.
    assert answer(f"http://{pod_ip}:8080/")[1] == f"hello from {pod['metadata']['name']}"

    # From the host to the Service's ClusterIP (kube-proxy's rules).
    svc = json.loads(kubectl("-n", namespace, "get", "service", "echo", "-o", "json"))
    assert answer(f"http://{svc['spec']['clusterIP']}/")[1].startswith("hello from echo-")

    # From another pod, by name: CoreDNS resolves it, kube-proxy forwards it.
    client = (
        "import urllib.request; "
        f"print(urllib.request.urlopen('http://echo.{namespace}.svc.cluster.local/', "
        "timeout=5).read().decode())"
    )
    kubectl(
        "-n", namespace, "run", "client", "--image", IMAGE, "--image-pull-policy=Never",
        "--restart=Never", "--command", "--", "python", "-c", client,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    phase = ""
    while time.monotonic() < deadline:
        phase = kubectl("-n", namespace, "get", "pod", "client", "-o", "jsonpath={.status.phase}")
        if phase in ("Succeeded", "Failed"):
            break
        time.sleep(1)
    logs = kubectl("-n", namespace, "logs", "client", check=False)
    assert phase == "Succeeded", logs
    assert logs.strip() == f"hello from {pod['metadata']['name']}"


def test_the_node_reports_its_runtime_and_release() -> None:
    node = json.loads(kubectl("get", "node", "bobaku-node", "-o", "json"))
    info = node["status"]["nodeInfo"]
    assert info["containerRuntimeVersion"].startswith("containerd://1.6")
    assert info["kubeletVersion"] == "v1.37.2"
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    assert ready == "True"
