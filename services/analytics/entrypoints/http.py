"""HTTP routes of the analytics service: reports at three levels (docs/api/analytics.md).

- ``/analytics/brand/<report>``: HQ only, every franchise and the brand roll-up;
- ``/analytics/franchises/{franchise_id}/<report>``: HQ and that franchise's owner;
- ``/analytics/franchises/{franchise_id}/outlets/{outlet_id}/<report>``: HQ, the owner and
  the outlet's managers.

Another franchise's or outlet's figures are a 403 and a security event
(``Principal.require_*``), never an empty answer.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bobaku.kernel.auth import OUTLET_MANAGERS, Principal, Role
from bobaku.kernel.errors import NotFound, ValidationFailed
from bobaku.kernel.openapi import Api
from bobaku.kernel.web import DEPLOYMENT, ok, principal, validation_fields
from bobaku.services.analytics.adapters.store import ProjectionStore
from bobaku.services.analytics.service_layer import views
from bobaku.services.analytics.service_layer.views import Period

STORE = web.AppKey("analytics_store", ProjectionStore)

api = Api("analytics", "Sales, menu, kitchen and customer figures for HQ, owners and managers")

# The longest range each granularity may ask for, in days.
MAX_DAYS = {"minute": 2, "hour": 93, "day": 731}
REPORTS = ("sales", "menu", "kitchen", "customers", "loyalty")


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: date | None = Field(default=None, alias="from")
    end: date | None = Field(default=None, alias="to")
    granularity: Literal["minute", "hour", "day"] = "day"
    compare: bool = False
    format: Literal["json", "csv"] = "json"
    limit: int = Field(default=10, ge=1, le=100)


QUERY_DOC = (
    ("from", "date", "first day (Asia/Jakarta), default 6 days before 'to'"),
    ("to", "date", "last day, inclusive (default today)"),
    ("granularity", "string", "minute | hour | day (sales, kitchen); default day"),
    ("compare", "boolean", "sales: add the previous period of the same length"),
    ("format", "string", "json (default) or csv"),
    ("limit", "integer", "menu: how many top and bottom entries (1-100, default 10)"),
)


def _query(request: web.Request, store: ProjectionStore) -> tuple[Period, ReportQuery]:
    try:
        q = ReportQuery.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ValidationFailed(
            "query has invalid parameters", details={"fields": validation_fields(exc)}
        ) from exc
    today = datetime.now(store.rules.zone).date()
    end = q.end or today
    start = q.start or end - timedelta(days=6)
    if start > end:
        raise ValidationFailed(
            "'from' must not be after 'to'",
            details={"fields": [{"field": "from", "problem": "after 'to'", "type": "range"}]},
        )
    span = (end - start).days + 1
    if span > MAX_DAYS[q.granularity]:
        raise ValidationFailed(
            f"a {q.granularity} report covers at most {MAX_DAYS[q.granularity]} days",
            details={
                "fields": [
                    {
                        "field": "from",
                        "problem": f"range of {span} days is longer than "
                        f"{MAX_DAYS[q.granularity]} for granularity {q.granularity}",
                        "type": "range",
                    }
                ]
            },
        )
    return Period(start, end), q


def _csv(rows: list[dict[str, Any]], name: str) -> web.Response:
    flat: list[dict[str, Any]] = []
    for row in rows:
        out: dict[str, Any] = {}
        for k, v in row.items():
            if isinstance(v, dict):
                out.update({f"{k}.{kk}": vv for kk, vv in v.items()})
            elif isinstance(v, list):
                out[k] = " ".join(str(x) for x in v)
            else:
                out[k] = v
        flat.append(out)
    columns: list[str] = []
    for row in flat:
        columns += [c for c in row if c not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns or ["empty"], restval=0)
    writer.writeheader()
    writer.writerows(flat)
    return web.Response(
        text=buf.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _menu_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"rank": "top", **e} for e in d["top_items"]] + [
        {"rank": "bottom", **e} for e in d["bottom_items"]
    ]


def _field(name: str) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    def rows(d: dict[str, Any]) -> list[dict[str, Any]]:
        return list(d[name])

    return rows


CSV_ROWS: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "sales": _field("series"),
    "kitchen": _field("series"),
    "menu": _menu_rows,
    "customers": _field("daily"),
    "loyalty": _field("daily"),
    "franchises": _field("franchises"),
}


async def report(request: web.Request, kind: str, scope: str, name: str) -> web.Response:
    store = request.app[STORE]
    period, q = _query(request, store)
    data: dict[str, Any]
    if kind == "sales":
        data = await views.sales(store, scope, period, q.granularity, q.compare)
    elif kind == "menu":
        data = await views.menu(store, scope, period, q.limit)
    elif kind == "kitchen":
        data = await views.kitchen(store, scope, period, q.granularity)
    elif kind == "customers":
        data = await views.customers(store, scope, period)
    elif kind == "loyalty":
        data = await views.loyalty(store, scope, period)
    elif kind == "franchises":
        data = await views.franchises(store, period)
    elif kind == "forecast":
        days = 7
        today = datetime.now(store.rules.zone).date()
        data = await views.forecast(store, scope, today, days, min(q.limit, 20))
        if q.format == "csv":
            rows = [{"item": i["id"], **p} for i in data["items"] for p in i["daily"]]
            return _csv(rows, f"{name}-forecast-{today}")
    else:  # pragma: no cover - routes are only registered for known reports
        raise NotFound(f"no report {kind}")
    if q.format == "csv":
        return _csv(CSV_ROWS[kind](data), f"{name}-{kind}-{period.start}-{period.end}")
    return ok({"scope": scope_view(scope), **data})


def scope_view(scope: str) -> dict[str, str | None]:
    parts = scope.split(":")
    return {
        "level": {"b": "brand", "f": "franchise", "o": "outlet"}[parts[0]],
        "franchise_id": parts[1] if len(parts) > 1 else None,
        "outlet_id": parts[2] if len(parts) > 2 else None,
    }


def brand_scope(request: web.Request) -> tuple[str, str]:
    who = principal(request)
    who.require_role(Role.HQ_ADMIN)
    # A franchise's silo keeps no brand figures: they are the pooled instance's.
    request.app[DEPLOYMENT].guard_brand(subject=who.subject)
    return "b", "brand"


def franchise_scope(request: web.Request) -> tuple[str, str]:
    who: Principal = principal(request)
    fid = request.match_info["franchise_id"]
    who.require_franchise(fid)
    # A silo has only its franchise's figures: another's is a 403, even for HQ.
    request.app[DEPLOYMENT].guard(fid, subject=who.subject)
    who.require_role(Role.HQ_ADMIN, Role.FRANCHISE_OWNER)
    return f"f:{fid}", fid


def outlet_scope(request: web.Request) -> tuple[str, str]:
    who = principal(request)
    fid, oid = request.match_info["franchise_id"], request.match_info["outlet_id"]
    who.require_outlet(fid, oid)
    request.app[DEPLOYMENT].guard(fid, subject=who.subject)
    who.require_role(*OUTLET_MANAGERS)
    return f"o:{fid}:{oid}", oid


Scoper = Callable[[web.Request], tuple[str, str]]
LEVELS: tuple[tuple[str, Scoper, str, tuple[str, ...]], ...] = (
    ("/analytics/brand", brand_scope, "HQ (hq_admin)", (*REPORTS, "franchises", "forecast")),
    (
        "/analytics/franchises/{franchise_id}",
        franchise_scope,
        "HQ and the franchise's owner",
        (*REPORTS, "forecast"),
    ),
    (
        "/analytics/franchises/{franchise_id}/outlets/{outlet_id}",
        outlet_scope,
        "HQ, the franchise's owner and the outlet's managers",
        (*REPORTS, "forecast"),
    ),
)

SUMMARIES = {
    "sales": "Sales: orders, gross, discounts, refunds, net, basket, items, payment mix, "
    "cancellation rate, per bucket",
    "menu": "Menu performance: top and bottom items and toppings, attach rate, sugar and ice",
    "kitchen": "Kitchen times: payment→ready and ready→pick-up p50/p90, share past target",
    "customers": "Customers: new vs returning, RFM segments, cohorts, loyalty points",
    "loyalty": "Loyalty points issued vs redeemed per day; at brand level also reversed, "
    "released and the outstanding balance (the liability)",
    "franchises": "Every franchise's sales totals and the brand roll-up",
    "forecast": "Demand forecast per item for the next 7 days (daily with an 80% band, and "
    "hourly in total); limit = items, at most 20",
}


def _handler(kind: str, scoper: Scoper) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        scope, name = scoper(request)
        return await report(request, kind, scope, name)

    handle.__name__ = f"{kind}_{scoper.__name__}"
    return handle


for _prefix, _scoper, _who, _reports in LEVELS:
    for _kind in _reports:
        api.get(
            f"{_prefix}/{_kind}",
            summary=f"{SUMMARIES[_kind]} ({_who})",
            errors=(422,),
            tags=("analytics",),
            query=QUERY_DOC,
        )(_handler(_kind, _scoper))
