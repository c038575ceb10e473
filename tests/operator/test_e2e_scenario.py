"""The kind e2e's onboarding and offboarding steps, run here against the local control plane.

``e2e/run.sh`` runs the same script on kind, where it also waits for the pods and places
an order; here there is no kubelet, so those parts cannot run.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import eventually

from bobaku.operator.envtest import ControlPlane

# Fixtures from this folder's conftest.py: control_plane, cluster (the operator running).
pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


async def scenario(*args: str) -> list[dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "e2e" / "scenario.py"),
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]


async def test_the_e2e_onboarding_and_offboarding_steps(
    control_plane: ControlPlane, cluster: Any, menu_service: Any
) -> None:
    kubeconfig = str(control_plane.admin_kubeconfig)
    steps = await scenario("onboard", "--kubeconfig", kubeconfig, "--timeout", "60", "--open-now")
    ready = {(s["kind"], s["name"]) for s in steps if s["step"] == "ready"}
    assert ready == {
        ("Franchise", "jkt-selatan"),
        ("Outlet", "jkt-selatan-senopati"),
        ("Outlet", "jkt-selatan-kemang"),
    }
    registered = next(s for s in steps if s["step"] == "registered")
    assert registered["outlets"] == ["jkt-selatan-kemang", "jkt-selatan-senopati"]
    body = await cluster.get("Franchise", "jkt-selatan")
    assert body["spec"]["tier"] == "medium"
    # --open-now: whatever the hour of the run (the examples close at night, and Kemang on
    # Mondays), both outlets take orders now, as the menu service every service asks says.
    for outlet in ("jkt-selatan-senopati", "jkt-selatan-kemang"):
        hours = (await cluster.get("Outlet", outlet))["spec"]["openingHours"]
        assert hours["days"] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

        async def open_now(outlet: str = outlet) -> bool:
            status, reply = await menu_service.outlet(outlet)
            return status == 200 and reply["data"]["open_now"] is True

        await eventually(open_now, timeout=20)

    steps = await scenario("offboard", "--kubeconfig", kubeconfig, "--timeout", "60")
    assert [s["name"] for s in steps if s["step"] == "deleted"] == [
        "jkt-selatan-senopati",
        "jkt-selatan-kemang",
        "jkt-selatan",
    ]
