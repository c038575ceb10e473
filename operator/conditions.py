"""``status.conditions`` as Kubernetes API conventions define them.

Each condition has ``type``, ``status`` (True/False/Unknown), ``reason`` (CamelCase, for
machines), ``message`` (for people), ``lastTransitionTime`` (when ``status`` last changed,
not when it was last written) and ``observedGeneration`` (the spec it describes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Condition:
    type: str
    status: Status
    reason: str
    message: str = ""

    @classmethod
    def of(cls, type_: str, ok: bool, reason: str, message: str = "") -> Condition:
        return cls(type_, "True" if ok else "False", reason, message)


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def merge_conditions(
    previous: Sequence[Mapping[str, Any]] | None,
    current: Iterable[Condition],
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """The new condition list: ``current`` in order, then previous types not in ``current``.

    ``lastTransitionTime`` moves only when a condition's status changes.
    """
    before = {c.get("type"): c for c in previous or ()}
    merged: list[dict[str, Any]] = []
    seen: set[str] = set()
    for c in current:
        seen.add(c.type)
        old = before.get(c.type)
        unchanged = old is not None and old.get("status") == c.status
        merged.append(
            {
                "type": c.type,
                "status": c.status,
                "reason": c.reason,
                "message": c.message[:32768],
                "lastTransitionTime": old.get("lastTransitionTime", now)
                if unchanged and old is not None
                else now,
                "observedGeneration": generation,
            }
        )
    merged.extend(dict(c) for t, c in before.items() if t not in seen)
    return merged


def find(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    for c in conditions or ():
        if c.get("type") == type_:
            return c
    return None


def is_true(body: Mapping[str, Any], type_: str) -> bool:
    found = find((body.get("status") or {}).get("conditions"), type_)
    return found is not None and found.get("status") == "True"


def ready(parts: Sequence[Condition], *, ready_message: str) -> Condition:
    """``Ready`` from its parts: the first part that is not True says why not."""
    for part in parts:
        if part.status != "True":
            return Condition("Ready", "False", part.reason, f"{part.type}: {part.message}")
    return Condition("Ready", "True", "Reconciled", ready_message)
