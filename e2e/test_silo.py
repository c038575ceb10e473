"""A franchise's silo on the cluster: it serves its franchise, reached through the gateway,
and refuses another franchise with 403.

Run by e2e/run.sh after `scenario.py onboard --available` (env: KUBECTL, KUBECONFIG,
BOBAKU_E2E_JWT = the signing key directory, BOBAKU_E2E_GATEWAY = the gateway's URL).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from kube_testkit import kubectl

from bobaku.kernel.auth import Role, TokenIssuer, load_private_key

FRANCHISE = "jkt-selatan"
OUTLET = "jkt-selatan-senopati"
NAMESPACE = f"bobaku-fr-{FRANCHISE}"


def issuer() -> TokenIssuer:
    key = load_private_key((Path(os.environ["BOBAKU_E2E_JWT"]) / "private.pem").read_bytes())
    return TokenIssuer(key, kid="dev-1", issuer="bobaku-customer", audience="bobaku")


def get(url: str, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def silo_pod_ips(service: str) -> list[str]:
    pods = json.loads(
        kubectl(
            "-n", NAMESPACE, "get", "pods", "-l", f"app.kubernetes.io/name={service}", "-o", "json"
        )
    )["items"]
    return [p["status"]["podIP"] for p in pods if p["status"].get("podIP")]


def served_by_silo(service: str, route: str) -> float:
    """Requests the silo's pods have answered on ``route`` (their Prometheus counters)."""
    total = 0.0
    # Greedy up to the last "} ": a route's own braces ({outlet_id}) are inside the labels.
    pattern = re.compile(r"^bobaku_http_requests_total\{(?P<labels>.*)\} (?P<value>\S+)$")
    for ip in silo_pod_ips(service):
        with urllib.request.urlopen(f"http://{ip}:8080/metrics", timeout=5) as resp:
            for line in resp.read().decode().splitlines():
                match = pattern.match(line)
                if match and f'route="{route}"' in match["labels"]:
                    total += float(match["value"])
    return total


def test_the_silo_refuses_another_franchise_with_403() -> None:
    ip = kubectl("-n", NAMESPACE, "get", "svc", "order", "-o", "jsonpath={.spec.clusterIP}")
    other = issuer().issue("u-other", [Role.FRANCHISE_OWNER], franchise_id="bdg-kota")
    status, body = get(f"http://{ip}:8080/outlets/{OUTLET}/orders", other)
    assert status == 403, body
    assert body["error"]["code"] == "tenant_forbidden"
    assert body["error"]["details"]["served_franchise"] == FRANCHISE


def test_the_gateway_routes_the_franchise_staff_to_its_silo() -> None:
    owner = issuer().issue("u-owner", [Role.FRANCHISE_OWNER], franchise_id=FRANCHISE)
    route = "/outlets/{outlet_id}/orders"
    before = served_by_silo("order", route)
    gateway = os.environ["BOBAKU_E2E_GATEWAY"]
    status, body = get(f"{gateway}/api/v1/outlets/{OUTLET}/orders", owner)
    assert status == 200, body
    assert served_by_silo("order", route) == before + 1
