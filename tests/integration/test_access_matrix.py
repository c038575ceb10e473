"""The authorization matrix: every operation of the public API, every role, own data,
another outlet's, another franchise's and another customer's, through the gateway of the
running platform, checked against the table in ``docs/security/access.md``.

A role the table does not name is refused (401 without a token, 403 with one); a role it
names is never refused on data it may reach; on data it may not reach it gets a 403 with
the error envelope and the service logs a security event carrying the request's
correlation id. A refused request is never a 2xx. Requests that are refused carry a body
valid for the operation's schema, so a handler that acted before it checked the caller
would act (and the test would say so); requests that are allowed carry ``{}``, so they
change nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st
from support import ARTIFACTS, RunningPlatform, call, eventually, record_figures

from bobaku.kernel.auth import Role, TokenIssuer

ACCESS_MD = Path(__file__).resolve().parents[2] / "docs" / "security" / "access.md"
ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/\S+)` \| ([^|]+) \| (\w+) \|")
METHODS = ("get", "post", "put", "patch", "delete")
CALLERS = (
    "anonymous",
    "customer",
    "staff",
    "outlet_manager",
    "franchise_owner",
    "hq_admin",
    "service",
)
FR, OTHER_FR = "fr-jakarta", "fr-bandung"
OUTLET, OTHER_OUTLET, FOREIGN_OUTLET = "outlet-01", "outlet-02", "outlet-04"
ITEM = {
    "menu_id": "m001",
    "quantity": 1,
    "customizations": {"sugar_level": 50, "ice_level": 30, "toppings": []},
}
# Path parameters that name no tenant: the same value in every variant.
FIXED = {
    "item_id": "m001",
    "menu_id": "m001",
    "size": "regular",
    "topping_id": "t001",
    "ingredient_id": "ing-matrix",
    "supplier_id": "sup-matrix",
    "po_id": "po-20260101-00000000",
    "transfer_id": "tr-20260101-00000000",
    "dispute_id": "dsp-matrix",
    "provider": "gopay",
    "notification_id": "ntf-" + "0" * 24,
}


@dataclass(frozen=True)
class Rule:
    method: str
    path: str
    who: frozenset[str]
    reach: str


def access_table() -> dict[tuple[str, str], Rule]:
    rules: dict[tuple[str, str], Rule] = {}
    for line in ACCESS_MD.read_text().splitlines():
        m = ROW.match(line)
        if m is None:
            continue
        method, path, who, reach = m.groups()
        assert (method, path) not in rules, f"{method} {path} has two rows in access.md"
        roles = frozenset(r.strip() for r in who.split(","))
        unknown = roles - {*CALLERS, "anyone", "signed"}
        assert not unknown, f"{method} {path}: unknown roles {sorted(unknown)} in access.md"
        rules[(method, path)] = Rule(method, path, roles, reach)
    return rules


@dataclass(frozen=True)
class Variant:
    """Whose data a request names, and who among the callers may reach it."""

    name: str
    params: dict[str, str]
    reachable_by: frozenset[str]
    query: dict[str, str] = field(default_factory=dict)


STAFF_UP = frozenset({"staff", "outlet_manager", "franchise_owner", "hq_admin"})
OWNER_UP = frozenset({"franchise_owner", "hq_admin"})
EVERYONE = frozenset(CALLERS)
# A platform process (role service) is bound to no tenant, like HQ.
PLATFORM = frozenset({"hq_admin", "service"})


@dataclass
class World:
    """The callers' tokens and the things the variants name (placed by the fixture)."""

    tokens: dict[str, str]
    customer_a: str
    orders: dict[str, str]
    intents: dict[str, str]
    devices: dict[str, str]

    def variants(self, reach: str) -> Iterator[Variant]:
        tenant = {"franchise_id": FR, "outlet_id": OUTLET}
        if reach in ("public", "self", "brand"):
            yield Variant("own", {**tenant, "user_id": self.customer_a}, EVERYONE)
        elif reach == "user":
            yield Variant("own", {"user_id": self.customer_a}, EVERYONE)
        elif reach == "franchise":
            yield Variant("own", tenant, EVERYONE)
            yield Variant("other franchise", {"franchise_id": OTHER_FR}, frozenset({"hq_admin"}))
        elif reach == "outlet":
            yield Variant("own", tenant, EVERYONE)
            yield Variant("other outlet", {**tenant, "outlet_id": OTHER_OUTLET}, OWNER_UP)
            foreign = {"franchise_id": OTHER_FR, "outlet_id": FOREIGN_OUTLET}
            yield Variant("other franchise", foreign, frozenset({"hq_admin"}))
        elif reach in ("order", "payment"):
            ids = self.orders if reach == "order" else self.intents
            key = "order_id" if reach == "order" else "intent_id"
            # Customer A placed the other outlet's and the other franchise's orders too:
            # those vary the tenant for staff and owners, B's order varies the customer.
            yield Variant("own", {key: ids["own"]}, EVERYONE)
            yield Variant("other customer", {key: ids["other customer"]}, STAFF_UP | PLATFORM)
            yield Variant(
                "other outlet", {key: ids["other outlet"]}, OWNER_UP | PLATFORM | {"customer"}
            )
            yield Variant("other franchise", {key: ids["other franchise"]}, PLATFORM | {"customer"})
        elif reach == "device":
            # A device token is its user's alone: HQ and the outlet's staff may not either.
            yield Variant("own", {"token_id": self.devices["own"]}, frozenset({"customer"}))
            yield Variant(
                "other customer", {"token_id": self.devices["other customer"]}, frozenset()
            )
        else:
            raise AssertionError(f"unknown reach {reach!r} in access.md")

    def query_variants(self, names: set[str]) -> Iterator[tuple[Variant, tuple[str, ...]]]:
        """Tenancy named in the query string (``?order_id=``, ``?franchise_id=&outlet_id=``),
        with the callers each variant is tried by: an order by anyone (customer A placed
        the other outlet's and franchise's orders, B the other customer's), a franchise or
        outlet by everyone but customers (they name their orders, never an outlet)."""
        if "order_id" in names:
            for variant in self.variants("order"):
                yield replace(variant, params={}, query=variant.params), CALLERS
        tenancy = sorted(names & {"franchise_id", "outlet_id"})
        if not tenancy:
            return
        staff_side = tuple(c for c in CALLERS if c != "customer")
        both = "franchise_id" in tenancy and "outlet_id" in tenancy
        tried = [("own", FR, OUTLET, EVERYONE)]
        if "outlet_id" in tenancy:
            tried.append(("other outlet", FR, OTHER_OUTLET, OWNER_UP | PLATFORM))
        tried.append(("other franchise", OTHER_FR, FOREIGN_OUTLET, PLATFORM))
        for name, franchise, outlet, reachable in tried:
            query = {"franchise_id": franchise, "outlet_id": outlet}
            query = {k: v for k, v in query.items() if k in tenancy}
            yield Variant(f"{name} (query)", {}, reachable, query), staff_side
        if both:
            # The caller's own franchise implied (no franchise_id), another's outlet named.
            query = {"outlet_id": FOREIGN_OUTLET}
            yield Variant("other franchise's outlet (query)", {}, PLATFORM, query), staff_side


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)
    logged: dict[str, str] = field(default_factory=dict)  # correlation id -> what
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


async def register(http: aiohttp.ClientSession, gw: str, name: str) -> tuple[str, str]:
    email = f"matrix-{name.split()[-1].lower()}-{secrets.token_hex(4)}@example.com"
    body = {"email": email, "password": "matrix-pass-123", "name": name, "language": "en"}
    status, reply = await call(http, "POST", f"{gw}/api/v1/auth/register", json=body)
    assert status == 201, reply
    return reply["data"]["tokens"]["access_token"], reply["data"]["user"]["id"]


async def place(http: aiohttp.ClientSession, gw: str, token: str, outlet: str) -> tuple[str, str]:
    status, body = await call(
        http, "POST", f"{gw}/api/v1/orders", token,
        json={"outlet_id": outlet, "items": [ITEM], "payment_method": "gopay"},
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )  # fmt: skip
    assert status == 201, body
    order_id = body["data"]["id"]

    async def intent() -> str | None:
        status, reply = await call(
            http, "GET", f"{gw}/api/v1/payments", token, params={"order_id": order_id}
        )
        items = reply["data"]["items"] if status == 200 else []
        return items[0]["intent_id"] if items else None

    return order_id, await eventually(intent, timeout=20, interval=0.2)


async def device(http: aiohttp.ClientSession, gw: str, token: str) -> str:
    body = {"token": f"matrix-{secrets.token_hex(8)}", "platform": "fcm"}
    status, reply = await call(http, "POST", f"{gw}/api/v1/notifications/devices", token, json=body)
    assert status == 201, reply
    return str(reply["data"]["items"][0]["id"])


@pytest.fixture(scope="module")
async def world(platform: RunningPlatform, token_issuer: TokenIssuer) -> World:
    gw = platform.gateway
    async with aiohttp.ClientSession() as http:
        token_a, customer_a = await register(http, gw, "Matrix A")
        token_b, _ = await register(http, gw, "Matrix B")
        orders, intents = {}, {}
        for variant, token, outlet in (
            ("own", token_a, OUTLET),
            ("other customer", token_b, OUTLET),
            ("other outlet", token_a, OTHER_OUTLET),
            ("other franchise", token_a, FOREIGN_OUTLET),
        ):
            orders[variant], intents[variant] = await place(http, gw, token, outlet)
        devices = {"own": await device(http, gw, token_a)}
        devices["other customer"] = await device(http, gw, token_b)
    issue = token_issuer.issue
    tokens = {
        "customer": token_a,
        "staff": issue("u-mx-staff", [Role.STAFF], franchise_id=FR, outlet_ids=[OUTLET]),
        "outlet_manager": issue(
            "u-mx-manager", [Role.OUTLET_MANAGER], franchise_id=FR, outlet_ids=[OUTLET]
        ),
        "franchise_owner": issue("u-mx-owner", [Role.FRANCHISE_OWNER], franchise_id=FR),
        "hq_admin": issue("u-mx-hq", [Role.HQ_ADMIN]),
        "service": issue("svc-mx", [Role.SERVICE]),
    }
    return World(tokens, customer_a, orders, intents, devices)


async def merged_openapi(http: aiohttp.ClientSession, gw: str) -> dict[str, Any]:
    async def complete() -> dict[str, Any] | None:
        status, doc = await call(http, "GET", f"{gw}/api/v1/openapi.json")
        assert status == 200, doc
        return doc if not doc.get("x-unavailable") else None

    return await eventually(complete, timeout=60, interval=1.0)


def operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method in ops
        if method in METHODS
    }


# --- a body valid for an operation's schema (deterministic: the simplest one) ------------


def valid_body(doc: dict[str, Any], op: dict[str, Any]) -> Any:
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    return instance(doc, content["schema"])


def instance(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return instance(doc, doc["components"]["schemas"][name])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return instance(doc, options[0])
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: instance(doc, props[k]) for k in schema.get("required", []) if k in props}
    if kind == "array":
        return [instance(doc, schema["items"]) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return max(1, int(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)))
    if kind == "number":
        return max(1.0, float(schema.get("minimum", 1)))
    if kind == "boolean":
        return False
    if kind == "string":
        return string_instance(schema)
    return None


def string_instance(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2026-01-01T00:00:00Z"
    if fmt == "date":
        return "2026-01-01"
    if "pattern" in schema:
        return str(
            find(
                st.from_regex(schema["pattern"], fullmatch=True),
                lambda s: len(s) >= schema.get("minLength", 0),
                settings=settings(
                    database=None, derandomize=True, suppress_health_check=list(HealthCheck)
                ),
            )
        )
    return "x" * max(1, schema.get("minLength", 1))


# --- the matrix -------------------------------------------------------------------------


def expected_refusal(caller: str, rule: Rule, variant: Variant) -> str | None:
    """None if the caller may do this; else what refuses it (role, tenant, signature)."""
    if "signed" in rule.who:
        return "signature"
    if "anyone" in rule.who:
        return None
    if caller == "anonymous":
        return "token"
    if caller not in rule.who:
        return "role"
    if caller not in variant.reachable_by:
        return "tenant"
    return None


def fill(path: str, params: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        value = params.get(name, FIXED.get(name))
        assert value is not None, f"no value for {{{name}}} in {path}"
        return value

    return re.sub(r"\{(\w+)\}", one, path)


async def probe(
    http: aiohttp.ClientSession,
    gw: str,
    world: World,
    bodies: dict[tuple[str, str], Any],
    rule: Rule,
    caller: str,
    variant: Variant,
    outcome: Outcome,
) -> None:
    refusal = expected_refusal(caller, rule, variant)
    body = bodies[(rule.method, rule.path)]
    if body is not None and refusal is None:
        body = {}  # an allowed call must not change the shared demo data
    cid = f"mx-{secrets.token_hex(8)}"
    headers = {"X-Correlation-ID": cid}
    if rule.method == "POST":
        headers["Idempotency-Key"] = secrets.token_hex(8)
    token = world.tokens.get(caller)
    url = gw + fill(rule.path, variant.params)
    kwargs: dict[str, Any] = {"headers": headers}
    if variant.query:
        kwargs["params"] = variant.query
    if body is not None:
        kwargs["json"] = body
    status, reply = await call(http, rule.method, url, token, **kwargs)
    what = f"{rule.method} {rule.path} as {caller} on {variant.name} data: {status} {reply}"
    outcome.count(refusal or "allowed")
    if status >= 500:
        outcome.failures.append(f"server error: {what}")
        return
    if refusal is None:
        if status in (401, 403):
            outcome.failures.append(f"refused though allowed: {what}")
        return
    code = reply.get("error", {}).get("code") if isinstance(reply, dict) else None
    if 200 <= status < 300:
        outcome.failures.append(f"{refusal} not enforced (a success): {what}")
    elif refusal in ("token", "signature") and (status != 401 or code is None):
        outcome.failures.append(f"not a 401 envelope: {what}")
    elif refusal in ("role", "tenant") and (status != 403 or code is None):
        outcome.failures.append(f"not a 403 envelope: {what}")
    elif refusal == "tenant":
        outcome.logged[cid] = what


def security_events() -> set[str]:
    """Correlation ids of every security event the platform's processes logged."""
    seen: set[str] = set()
    for log in ARTIFACTS.glob("*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if "security_event" not in line or "{" not in line:
                continue
            try:
                entry = json.loads(line[line.index("{") :])
            except ValueError:
                continue
            if entry.get("security_event") and entry.get("correlation_id"):
                seen.add(entry["correlation_id"])
    return seen


async def test_every_operation_is_in_the_access_table(
    platform: RunningPlatform, http: aiohttp.ClientSession
) -> None:
    documented = operations(await merged_openapi(http, platform.gateway))
    table = set(access_table())
    assert not documented - table, f"operations without a row in access.md: {documented - table}"
    assert not table - documented, f"rows of access.md for no operation: {table - documented}"


@pytest.mark.timeout(300)
async def test_the_authorization_matrix_holds_for_every_operation_role_and_tenant(
    platform: RunningPlatform, world: World
) -> None:
    outcome = Outcome()
    async with aiohttp.ClientSession() as http:
        doc = await merged_openapi(http, platform.gateway)
        gate = asyncio.Semaphore(8)

        async def one(rule: Rule, caller: str, variant: Variant) -> None:
            async with gate:
                await probe(http, platform.gateway, world, bodies, rule, caller, variant, outcome)

        rules = [r for k, r in sorted(access_table().items()) if k in operations(doc)]
        bodies = {
            (r.method, r.path): valid_body(doc, doc["paths"][r.path][r.method.lower()])
            for r in rules
        }
        probes = [
            (rule, caller, variant)
            for rule in rules
            for variant in world.variants(rule.reach)
            for caller in CALLERS
        ]
        # Refusals first, eight at a time (they change nothing and cost nothing past the
        # check), then the allowed calls one by one: they may change something (a customer
        # forgetting their device token), and some are heavy (eight forecasts at once
        # outlast the gateway's 5 s upstream timeout on a loaded machine).
        await asyncio.gather(
            *(
                one(rule, caller, variant)
                for rule, caller, variant in probes
                if expected_refusal(caller, rule, variant) is not None
            )
        )
        for rule, caller, variant in probes:
            if expected_refusal(caller, rule, variant) is None:
                await probe(http, platform.gateway, world, bodies, rule, caller, variant, outcome)
    print(f"authorization matrix: {sum(outcome.counts.values())} requests, {outcome.counts}")
    record_figures(
        "access-matrix",
        {"operations": len(rules), "requests": sum(outcome.counts.values()), **outcome.counts,
         "failures": len(outcome.failures)},
    )  # fmt: skip
    assert not outcome.failures, "\n".join(sorted(outcome.failures))
    assert outcome.counts.get("tenant", 0) > 100, outcome.counts  # the matrix reached far

    async def all_logged() -> bool:
        missing = set(outcome.logged) - security_events()
        assert not missing, [outcome.logged[c] for c in sorted(missing)]
        return True

    await eventually(all_logged, timeout=15, interval=0.5)


QUERY_TENANCY = {"order_id", "franchise_id", "outlet_id"}


def query_names(op: dict[str, Any]) -> set[str]:
    return {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}


@pytest.mark.timeout(300)
async def test_tenancy_named_in_the_query_string_holds_like_in_the_path(
    platform: RunningPlatform, world: World
) -> None:
    """Operations that take the tenant or the order from the query (``GET /payments``,
    ``GET /reports/settlement``): the same own / other outlet / other franchise / other
    customer refusals as in the path, each a 403 envelope with a security event."""
    outcome = Outcome()
    async with aiohttp.ClientSession() as http:
        doc = await merged_openapi(http, platform.gateway)
        probes = []
        for (method, path), rule in sorted(access_table().items()):
            op = doc["paths"].get(path, {}).get(method.lower())
            if op is None or rule.reach == "public" or "signed" in rule.who:
                continue
            names = query_names(op) & QUERY_TENANCY
            for variant, callers in world.query_variants(names):
                probes.extend((rule, caller, variant) for caller in callers)
        bodies = {(r.method, r.path): None for r, _, _ in probes}
        for rule, caller, variant in probes:
            await probe(http, platform.gateway, world, bodies, rule, caller, variant, outcome)
    tried = {f"{r.method} {r.path}" for r, _, _ in probes}
    total = sum(outcome.counts.values())
    print(f"query-string tenancy: {total} requests on {sorted(tried)}, {outcome.counts}")
    record_figures(
        "access-matrix-query",
        {"operations": sorted(tried), "requests": total, **outcome.counts,
         "failures": len(outcome.failures)},
    )  # fmt: skip
    assert {"GET /api/v1/payments", "GET /api/v1/reports/settlement"} <= tried, tried
    assert not outcome.failures, "\n".join(sorted(outcome.failures))
    assert outcome.counts.get("tenant", 0) >= 16, outcome.counts  # every variant was tried

    async def all_logged() -> bool:
        missing = set(outcome.logged) - security_events()
        assert not missing, [outcome.logged[c] for c in sorted(missing)]
        return True

    await eventually(all_logged, timeout=15, interval=0.5)
