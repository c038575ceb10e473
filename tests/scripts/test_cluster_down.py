"""`scripts/k8s/cluster.sh down` puts the host's network back as `up` found it: the iptables
chains kube-proxy, the kubelet and the CNI plugins added go, with the rules that jump to
them, while rules that were there before, and rules someone else added meanwhile, stay;
ip_forward gets its old value back.

The real functions of cluster.sh, run with the real iptables in a network namespace of
their own (`unshare -rn`), so the host's own tables are never touched. The whole node
(make e2e) is too slow for the suite; this is the part of `down` that can hurt a host.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "scripts" / "k8s" / "cluster.sh"

# Run inside the namespace: a host with rules of its own, `up`'s record of them, the rules
# the node adds, a rule added by someone else while the node runs, then `down`'s part.
SCRIPT = r"""
set -euo pipefail
source "$CLUSTER"
mkdir -p "$SAVED" "$LOGS"
echo 0 >/proc/sys/net/ipv4/ip_forward
# The host before `up`: its own chain, a KUBE- chain of another cluster, a FORWARD rule.
iptables -t nat -N OTHER
iptables -t nat -A PREROUTING -j OTHER
iptables -t nat -N KUBE-ELSEWHERE
iptables -t nat -A PREROUTING -m comment --comment "another cluster" -j KUBE-ELSEWHERE
iptables -A FORWARD -s 192.0.2.0/24 -j ACCEPT
iptables-save >"$SAVED/iptables.rules"
save_sysctl net/ipv4/ip_forward 1
# What the node adds.
iptables -t nat -N KUBE-SERVICES
iptables -t nat -N KUBE-SVC-ABC
iptables -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
iptables -t nat -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
iptables -t nat -A KUBE-SERVICES -d 10.96.0.1/32 -p tcp \
    -m comment --comment "default/kubernetes:https cluster IP" -j KUBE-SVC-ABC
iptables -t nat -N CNI-0123abcd
iptables -t nat -A POSTROUTING -s 10.244.0.5/32 -m comment --comment "name: bobaku" -j CNI-0123abcd
iptables -N KUBE-FORWARD
iptables -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
iptables -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
iptables -t mangle -N KUBE-KUBELET-CANARY
# Someone else, while the node runs.
iptables -A INPUT -s 198.51.100.7/32 -j DROP
echo "forward-while-up=$(cat /proc/sys/net/ipv4/ip_forward)"
restore_iptables
restore_sysctls
echo "forward-after-down=$(cat /proc/sys/net/ipv4/ip_forward)"
iptables-save
"""


def rules(saved: str) -> set[str]:
    """Chains and rules of an iptables-save output, without comments and counters."""
    kept: set[str] = set()
    table = ""
    for line in saved.splitlines():
        if line.startswith("*"):
            table = line
        elif line.startswith((":", "-A")):
            kept.add(f"{table} {line.split(' [')[0] if line.startswith(':') else line}")
    return kept


def test_down_removes_only_the_node_rules_and_restores_ip_forward(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "CLUSTER": str(CLUSTER),
        "BOBAKU_CLUSTER_DIR": str(tmp_path),
        "SAVED": str(tmp_path / "saved"),
        "LOGS": str(tmp_path / "logs"),
    }
    done = subprocess.run(
        ["unshare", "-rn", "bash", "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "forward-while-up=1" in done.stdout
    assert "forward-after-down=0" in done.stdout
    after = rules(done.stdout)
    assert not any("KUBE-SERVICES" in r or "KUBE-SVC" in r or "CNI-" in r for r in after), after
    assert not any("KUBE-FORWARD" in r or "KUBE-KUBELET-CANARY" in r for r in after), after
    # The host's own rules, the other cluster's chain and the rule added meanwhile stay.
    for kept in (
        "*nat :OTHER -",
        "*nat -A PREROUTING -j OTHER",
        "*nat :KUBE-ELSEWHERE -",
        '*nat -A PREROUTING -m comment --comment "another cluster" -j KUBE-ELSEWHERE',
        "*filter -A FORWARD -s 192.0.2.0/24 -j ACCEPT",
        "*filter -A INPUT -s 198.51.100.7/32 -j DROP",
    ):
        assert kept in after, (kept, sorted(after))
    assert not (tmp_path / "saved" / "iptables.rules").exists()
