"""kubectl and waiting, for the tests that run against a real cluster (e2e/test_*.py: the
node, the silo, the faults, the platform layer). KUBECTL names the binary (e2e/run.sh and
``make e2e-terraform`` set it, with KUBECONFIG)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

KUBECTL = os.environ.get("KUBECTL", "kubectl")
T = TypeVar("T")


def run(
    *args: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``kubectl ARGS``; with ``check``, an AssertionError naming its stderr if it fails."""
    done = subprocess.run(
        [KUBECTL, *args], input=input, capture_output=True, text=True, timeout=120, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def kubectl(*args: str, input: str | None = None, check: bool = True) -> str:
    """What ``kubectl ARGS`` printed."""
    return run(*args, input=input, check=check).stdout


def get(*args: str) -> Any:
    """The object (or list) as JSON; None if it does not exist."""
    out = kubectl("get", *args, "-o", "json", "--ignore-not-found")
    return json.loads(out) if out.strip() else None


def until(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """``probe()`` once it is truthy; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def answer(url: str, timeout: float = 60) -> tuple[int, str]:
    """The status and body at ``url`` once it answers: kube-proxy programs a new Service's
    endpoints a moment after its pod is Ready (until then the rule rejects the connection)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # nosec B310: http to the node
                return int(resp.status), str(resp.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
