"""The Franchise and Outlet resources as the operator reads them, and the tier table.

The CRD schemas (``crds/``) are what the API server enforces; the models here parse the
same fields into typed values so that the planning code never touches raw dictionaries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "bobaku.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FRANCHISE = "Franchise"
OUTLET = "Outlet"

FINALIZER = "bobaku.io/finalizer"
PAUSED_ANNOTATION = "bobaku.io/paused"
OPERATOR = "bobaku-operator"

# Labels on everything the operator creates.
MANAGED_BY = "app.kubernetes.io/managed-by"
PART_OF = "app.kubernetes.io/part-of"
NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
FRANCHISE_LABEL = "bobaku.io/franchise"
OUTLET_LABEL = "bobaku.io/outlet"
TIER_LABEL = "bobaku.io/tier"

# The services a franchise's silo runs (each must exist: tests/operator/test_chart.py).
# analytics keeps the franchise's and its outlets' figures (the pooled instance keeps the
# brand-level ones for every franchise: docs/analytics.md "Pooled and silo").
SILO_SERVICES = ("order", "payment", "menu", "supply", "analytics")
SERVICE_PORT = 8080
# Memory (MiB: request, limit) a silo service needs whatever the tier: analytics loads
# statsmodels and pandas for its forecasts, ~200 MiB resident after a fit (measured), over
# the small tier's 256 MiB limit.
MEMORY_FLOOR_MI: Mapping[str, tuple[int, int]] = {"analytics": (256, 512)}


class Tier(StrEnum):
    small = "small"
    medium = "medium"
    large = "large"


class Retention(StrEnum):
    Retain = "Retain"
    Delete = "Delete"


@dataclass(frozen=True)
class Sizing:
    """How big each of a franchise's silo services is, and the namespace's quota."""

    replicas: int  # the floor: initial replicas and the autoscaler's minimum
    max_replicas: int
    cpu_request_m: int
    cpu_limit_m: int
    memory_request_mi: int
    memory_limit_mi: int
    # PodDisruptionBudget: keep this many available (0: allow one at a time to go).
    min_available: int

    def of(self, service: str) -> Sizing:
        """This tier's sizing for one service: its memory never below the service's floor."""
        request, limit = MEMORY_FLOOR_MI.get(service, (0, 0))
        return replace(
            self,
            memory_request_mi=max(self.memory_request_mi, request),
            memory_limit_mi=max(self.memory_limit_mi, limit),
        )

    def quota(self, services: int | Sequence[str]) -> dict[str, str]:
        # Room for every service at its maximum plus one surge pod each during a rollout.
        names = [""] * services if isinstance(services, int) else list(services)
        per = self.max_replicas + 1
        pods = len(names) * per
        sized = [self.of(name) for name in names]
        return {
            "pods": str(pods),
            "requests.cpu": f"{pods * self.cpu_request_m}m",
            "requests.memory": f"{per * sum(s.memory_request_mi for s in sized)}Mi",
            "limits.cpu": f"{pods * self.cpu_limit_m}m",
            "limits.memory": f"{per * sum(s.memory_limit_mi for s in sized)}Mi",
            "services": str(len(names) + 4),
            "services.loadbalancers": "0",
            "services.nodeports": "0",
            "configmaps": "200",
            "secrets": "20",
            "persistentvolumeclaims": "0",
        }


SIZING: Mapping[Tier, Sizing] = {
    Tier.small: Sizing(1, 2, 100, 500, 128, 256, 0),
    Tier.medium: Sizing(2, 4, 200, 1000, 256, 512, 1),
    Tier.large: Sizing(3, 10, 500, 2000, 512, 1024, 2),
}


class _Spec(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


class FranchiseSpec(_Spec):
    display_name: str
    tier: Tier = Tier.small
    retention: Retention = Retention.Retain
    owner: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class OpeningHours(_Spec):
    opens: str = "08:00"
    closes: str = "22:00"
    days: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class OutletSpec(_Spec):
    franchise_ref: str
    display_name: str
    address: str | None = None
    city: str | None = None
    phone: str | None = None
    opening_hours: OpeningHours = Field(default_factory=OpeningHours)
    stations: int = 2
    config: dict[str, Any] = Field(default_factory=dict)


def _meta(body: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = body.get("metadata") or {}
    return meta


def _paused(meta: Mapping[str, Any]) -> bool:
    value = (meta.get("annotations") or {}).get(PAUSED_ANNOTATION, "")
    return str(value).strip().lower() in ("true", "yes", "1")


@dataclass(frozen=True)
class Franchise:
    name: str
    uid: str
    generation: int
    spec: FranchiseSpec
    paused: bool = False
    deleting: bool = False

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Franchise:
        meta = _meta(body)
        return cls(
            name=meta["name"],
            uid=meta.get("uid", ""),
            generation=int(meta.get("generation", 0)),
            spec=FranchiseSpec.model_validate(dict(body.get("spec") or {})),
            paused=_paused(meta),
            deleting=bool(meta.get("deletionTimestamp")),
        )

    @property
    def sizing(self) -> Sizing:
        return SIZING[self.spec.tier]


@dataclass(frozen=True)
class Outlet:
    name: str
    uid: str
    generation: int
    spec: OutletSpec
    paused: bool = False
    deleting: bool = False

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Outlet:
        meta = _meta(body)
        return cls(
            name=meta["name"],
            uid=meta.get("uid", ""),
            generation=int(meta.get("generation", 0)),
            spec=OutletSpec.model_validate(dict(body.get("spec") or {})),
            paused=_paused(meta),
            deleting=bool(meta.get("deletionTimestamp")),
        )
