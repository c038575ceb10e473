"""The rules, the generated Prometheus config and the Alertmanager routing, checked by the
real tools (promtool and amtool from the cached Prometheus/Alertmanager builds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OBS = ROOT / "scripts" / "observability.sh"
RULES = ROOT / "monitoring" / "prometheus" / "rules" / "bobaku.yml"
RULE_TESTS = ROOT / "monitoring" / "prometheus" / "tests" / "bobaku_test.yml"
ALERTMANAGER = ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OBS), *args], capture_output=True, text=True, timeout=600, check=False, cwd=ROOT
    )


def test_rules_pass_promtool_check() -> None:
    result = tool("promtool", "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_unit_tests_pass() -> None:
    result = tool("promtool", "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_broken_rule_unit_test_is_caught(tmp_path: Path) -> None:
    """The unit tests can fail: expecting a page where the rules raise none is reported."""
    broken = RULE_TESTS.read_text().replace(
        "exp_alerts: []", "exp_alerts:\n          - exp_labels: {severity: page}", 1
    )
    case = tmp_path / "broken_test.yml"
    case.write_text(broken.replace("../rules/bobaku.yml", str(RULES)))
    result = tool("promtool", "test", "rules", str(case))
    assert result.returncode != 0
    assert "OrderPathAvailabilityBudgetBurnFast" in result.stdout + result.stderr


def test_the_running_prometheus_config_passes_promtool() -> None:
    targets = os.environ.get("BOBAKU_SCRAPE_TARGETS_DIR")
    if not targets:
        pytest.fail("BOBAKU_SCRAPE_TARGETS_DIR is not set: run the suite through `make test`")
    config = Path(targets).parent / "prometheus.yml"
    result = tool("promtool", "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alertmanager_config_is_valid() -> None:
    result = tool("amtool", "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=KitchenFallingBehind", "franchise=fr-jakarta", "outlet=outlet-01"],
         "hq-operations,franchise-fr-jakarta"),
        (["alertname=KitchenFallingBehind", "franchise=fr-bandung", "outlet=outlet-04"],
         "hq-operations,franchise-fr-bandung"),
        # A franchise onboarded after this config still reaches owners, on its own group.
        (["alertname=KitchenFallingBehind", "franchise=fr-surabaya"],
         "hq-operations,franchise-owners"),
        (["alertname=ProcessDown", "severity=page", "service=payment"], "platform-pager"),
        (["alertname=DeadLettersGrowing", "severity=ticket"], "platform-tickets"),
    ],
)  # fmt: skip
def test_alerts_are_routed_per_franchise(labels: list[str], receivers: str) -> None:
    result = tool("amtool", "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_dashboards_are_what_the_generator_makes() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "monitoring" / "grafana" / "generate.py"), "--check"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
