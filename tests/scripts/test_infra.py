"""`scripts/infra.sh up` in a run directory whose servers were started with other ports
(another `make test TEST_PORT_OFFSET=…` of the same checkout) refuses and leaves them
running: the second run once stopped the first one's NATS mid-suite.

Real servers (Redis and the others, as `make test` starts them) in a run directory of the
test's own, on free ports; observability is off (BOBAKU_OBSERVABILITY=off).
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from support import free_port

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "scripts" / "infra.sh"
PORTS = (
    "BOBAKU_NATS_PORT", "BOBAKU_NATS_MONITOR_PORT", "BOBAKU_REDIS_PORT", "BOBAKU_MONGO_PORT",
    "BOBAKU_MAILPIT_SMTP_PORT", "BOBAKU_MAILPIT_HTTP_PORT",
)  # fmt: skip


def infra(run_dir: Path, ports: dict[str, int], command: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOBAKU_")}
    # No server of the suite's: these must be started here, not found as external URLs.
    for var in ("NATS_URL", "REDIS_URL", "MONGODB_URL", "MAILPIT_URL"):
        env.pop(var, None)
    env.update({k: str(v) for k, v in ports.items()})
    env.update(BOBAKU_RUN_DIR=str(run_dir), BOBAKU_OBSERVABILITY="off")
    return subprocess.run(
        ["bash", str(INFRA), command], env=env, capture_output=True, text=True, timeout=180
    )


def answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_with_other_ports_refuses_and_leaves_the_running_servers_alone(
    tmp_path: Path,
) -> None:
    ports: set[int] = set()
    while len(ports) < 2 * len(PORTS):  # twelve different ones
        ports.add(free_port())
    chosen = sorted(ports)
    first = dict(zip(PORTS, chosen[: len(PORTS)], strict=True))
    second = dict(zip(PORTS, chosen[len(PORTS) :], strict=True))
    run_dir = tmp_path / "run"
    try:
        started = infra(run_dir, first, "up")
        assert started.returncode == 0, started.stderr
        refused = infra(run_dir, second, "up")
        assert refused.returncode != 0
        assert f"already runs on port(s) {first['BOBAKU_NATS_PORT']}" in refused.stderr
        assert "it is left" in refused.stderr
        for var in PORTS:  # every server of the first run still answers
            assert answers(first[var]), (var, refused.stderr)
        assert not answers(second["BOBAKU_NATS_PORT"])
        again = infra(run_dir, first, "up")  # the same ports: found running, not restarted
        assert again.returncode == 0, again.stderr
        assert "nats already running" in again.stderr
    finally:
        infra(run_dir, first, "down")
    assert not answers(first["BOBAKU_NATS_PORT"])
