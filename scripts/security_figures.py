"""Rewrite the figures block of the pentest report from the figures the test families
recorded (``.run/test-artifacts/figures/*.json``, written by the authorization matrix, the
order-path and hub chaos runs). `make security-figures` runs those tests, then this.

Usage: python scripts/security_figures.py docs/security/pentest-report.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / ".run" / "test-artifacts" / "figures"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"


def _load(name: str) -> dict[str, Any] | None:
    path = FIGURES / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def render() -> str:
    lines = [BEGIN, "", "| family | figures | recorded |", "|---|---|---|"]
    matrix = _load("access-matrix")
    if matrix:
        lines.append(
            f"| authorization matrix (`test_access_matrix.py`) | {matrix['requests']} requests on "
            f"{matrix['operations']} operations: {matrix.get('token', 0)} refused for want of a "
            f"token, {matrix.get('role', 0)} for the role, {matrix.get('tenant', 0)} cross-tenant "
            f"or cross-user (each a 403 with a security event), {matrix.get('signature', 0)} "
            f"unsigned callbacks, {matrix.get('allowed', 0)} allowed; **{matrix['failures']} "
            f"failures** | {matrix['recorded_at']} |"
        )
    query = _load("access-matrix-query")
    if query:
        lines.append(
            f"| tenancy in the query string (same file) | {query['requests']} requests on "
            f"{', '.join(f'`{op}`' for op in query['operations'])}: {query.get('tenant', 0)} "
            f"cross-tenant or cross-user refusals, {query.get('allowed', 0)} allowed; "
            f"**{query['failures']} failures** | {query['recorded_at']} |"
        )
    chaos = _load("order-chaos")
    if chaos:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(chaos["statuses"].items()))
        tries = sorted(chaos["attempts"].items(), key=lambda kv: int(kv[0]))
        attempts = ", ".join(f"{n} in {a}" for a, n in tries)
        lost = chaos["lost"]
        sold_out = chaos.get("refused_sold_out", 0)
        per_order = chaos.get("saga_terminal_after_fault_or_creation_s")
        if per_order:
            bound = (
                f"each saga terminal at most {per_order['max']} s (median {per_order['p50']} s) "
                f"after the later of the last fault and its order's creation, "
                f"{per_order['over_bound']} over 60 s (from the events' times)"
            )
        else:  # an older run: polled after the load, an upper bound
            bound = (
                f"every saga terminal {chaos['last_saga_terminal_after_last_fault_s']} s after "
                f"the last fault (polled after the load)"
            )
        restocked = chaos.get("stock_at_start_x_opening")
        stock = f", stock at {restocked}x the opening levels" if restocked else ""
        lines.append(
            f"| order-path chaos (`test_order_chaos.py`) | {chaos['orders']} orders over "
            f"{chaos['window_s']:g} s, {len(chaos['faults']) // 2} faults{stock}; "
            f"{chaos['accepted']} accepted ({statuses}), {sold_out} refused as sold out; "
            f"orders placed in N attempts: {attempts}; "
            f"**{lost} lost, {chaos['double_charges']} double charges, "
            f"{chaos['charges_kept_for_cancelled_orders']} charges kept for cancelled orders, "
            f"{chaos['stock_left_reserved']} reservations left, {chaos['dead_letters']} dead "
            f"letters**; {bound} | {chaos['recorded_at']} |"
        )
    hub = _load("hub-chaos")
    if hub:
        lines.append(
            f"| hub chaos (`tests/hub/test_chaos.py`) | {hub['clients']} clients on "
            f"{hub['channels']} channels, {hub['publications']} publications, {hub['drops']} "
            f"drops, {hub.get('closes_by_the_hub', 0)} closes by the hub, "
            f"{hub.get('connects_retried', 0)} connects and {hub.get('subscribes_retried', 0)} "
            f"subscribes tried again; **{hub['lost']} lost, {hub['repeated']} repeated** | "
            f"{hub['recorded_at']} |"
        )
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    report = Path(argv[1])
    text = report.read_text()
    if BEGIN not in text or END not in text:
        print(f"{report}: no {BEGIN} … {END} block", file=sys.stderr)
        return 1
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    report.write_text(head + render() + tail)
    print(f"{report}: figures block rewritten from {FIGURES}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
