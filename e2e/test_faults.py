"""Bad input and faults on the node (issue 10, deliverable 6), against the onboarded franchise.

- An invalid Franchise spec is refused by the CRD's schema and nothing is created.
- A silo whose process keeps dying (killed from the node, as an out-of-memory kill or a
  crash would end it): its pod goes into back-off, the Franchise's ``Available`` turns False
  naming the service, and turns True again when the process stays up.

Run by e2e/run.sh (local mode) after `scenario.py onboard --available` (env: KUBECTL,
KUBECONFIG). Root on the node: the kill goes through the container's cgroup.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from kube_testkit import get, run, until

FRANCHISE = "jkt-selatan"
NAMESPACE = f"bobaku-fr-{FRANCHISE}"


def condition(type_: str) -> dict[str, Any]:
    """The Franchise's condition ``type_``, once observed for its current generation."""
    body = get("franchise", FRANCHISE)
    generation = body["metadata"]["generation"]
    for c in body.get("status", {}).get("conditions", []):
        if c["type"] == type_ and c.get("observedGeneration") == generation:
            return dict(c)
    return {}


def test_an_invalid_franchise_is_refused_by_the_schema_and_nothing_is_made() -> None:
    manifest = {
        "apiVersion": "bobaku.io/v1alpha1",
        "kind": "Franchise",
        "metadata": {"name": "e2e-invalid"},
        "spec": {"displayName": "Invalid", "tier": "enormous", "retention": "Sometimes"},
    }
    done = run("apply", "-f", "-", input=json.dumps(manifest), check=False)
    assert done.returncode != 0
    assert "spec.tier" in done.stderr, done.stderr
    assert "spec.retention" in done.stderr, done.stderr
    assert get("franchise", "e2e-invalid") is None
    assert get("namespace", "bobaku-fr-e2e-invalid") is None


def pod_processes(uid: str) -> list[int]:
    """PIDs on the node of the pod's containers (not its sandbox's pause)."""
    found = []
    marker = "pod" + uid.replace("-", "_")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cgroup = (entry / "cgroup").read_text()
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if (marker in cgroup or "pod" + uid in cgroup) and comm != "pause":
            found.append(int(entry.name))
    return found


def payment_pod() -> dict[str, Any]:
    pods = get("pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=payment")["items"]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return dict(pods[0])


def restarts(pod: dict[str, Any]) -> int:
    return sum(int(c.get("restartCount", 0)) for c in pod["status"].get("containerStatuses", []))


@pytest.mark.timeout(420)
def test_a_silo_that_keeps_dying_shows_in_the_franchises_conditions_and_recovers() -> None:
    # The scenario before this deleted the order pod mid-order: its replacement may still
    # be starting, so wait for every silo pod to serve before breaking one.
    until(
        "Available before the faults",
        lambda: condition("Available").get("status") == "True" or None,
        240,
    )
    pod = payment_pod()
    uid, start = pod["metadata"]["uid"], restarts(pod)
    # Killed each time it is up again, until the kubelet backs off.
    for kill in range(1, 4):
        pids = until("the payment process", lambda: pod_processes(uid) or None, 120)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        until(f"restart {kill}", lambda k=kill: restarts(payment_pod()) >= start + k or None, 120)
    unavailable = until(
        "Available=False naming payment",
        lambda: (c := condition("Available")).get("status") == "False" and c,
        120,
    )
    assert unavailable["reason"] == "ReplicasUnavailable", unavailable
    assert "payment 0/1" in unavailable["message"], unavailable
    waiting = [
        c["state"]["waiting"]["reason"]
        for c in payment_pod()["status"].get("containerStatuses", [])
        if "waiting" in c.get("state", {})
    ]
    assert waiting in ([], ["CrashLoopBackOff"]), waiting
    # Left alone, it comes back: the kubelet's back-off ends, the pod is ready again.
    until("Available again", lambda: condition("Available").get("status") == "True" or None, 240)
