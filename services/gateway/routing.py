"""Which upstream serves a request.

Public paths map to a service by prefix (:data:`ROUTES`). The service's address comes from the
routing table: the pooled defaults from settings, overridden per franchise by the entries the
operator writes to the routing bucket (:mod:`bobaku.kernel.routing_table`) when it deploys
a franchise in silo mode. The gateway watches the bucket, so onboarding a franchise
needs no restart.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from bobaku.kernel.bus import EventBus
from bobaku.kernel.routing_table import RoutingEntries, franchise_of
from bobaku.kernel.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpstreamRoute:
    pattern: re.Pattern[str]
    service: str
    # Methods that may be called without a token (everything else needs one).
    public_methods: frozenset[str] = frozenset()
    # Strip the public prefix: /api/v1/orders → /orders on the upstream.
    strip: str = "/api/v1"
    # A public GET whose answer is the same for every caller: the gateway keeps the
    # upstream's bytes while the upstream's cache headers say they hold (app.py, EdgeCache).
    edge_cached: bool = False


def _route(
    regex: str, service: str, public: str = "", strip: str = "/api/v1", edge_cached: bool = False
) -> UpstreamRoute:
    return UpstreamRoute(re.compile(regex), service, frozenset(public.split()), strip, edge_cached)


# First match wins; order matters where prefixes overlap (outlet orders before outlets).
ROUTES: tuple[UpstreamRoute, ...] = (
    _route(r"^/api/v1/auth/(register|login|refresh|logout)$", "customer", "POST"),
    _route(r"^/api/v1/\.well-known/jwks\.json$", "customer", "GET"),
    _route(r"^/api/v1/me(/.*)?$", "customer"),
    _route(r"^/api/v1/rewards$", "customer", "GET"),
    _route(r"^/api/v1/outlets/[^/]+/(orders|kitchen)$", "order"),
    _route(
        r"^/api/v1/outlets/[^/]+/(ingredient-stock|receipts|waste|stock-takes|par-levels"
        r"|suggested-purchase-orders|purchase-orders|transfers)(/.*)?$",
        "supply",
    ),
    _route(r"^/api/v1/(ingredients|suppliers|recipes|topping-recipes)(/.*)?$", "supply"),
    _route(
        r"^/api/v1/franchises/[^/]+/(ingredients|suppliers|purchase-orders|transfers)(/.*)?$",
        "supply",
    ),
    _route(r"^/api/v1/outlets/[^/]+/menu$", "menu", "GET", edge_cached=True),
    _route(r"^/api/v1/outlets(/.*)?$", "menu", "GET"),
    _route(r"^/api/v1/(items|toppings|categories)(/.*)?$", "menu", "GET"),
    _route(r"^/api/v1/franchises/[^/]+/prices(/.*)?$", "menu"),
    _route(r"^/api/v1/orders(/.*)?$", "order"),
    _route(r"^/api/v1/(payments|reports)(/.*)?$", "payment"),
    # The signed unsubscribe link in every email works without logging in.
    _route(r"^/api/v1/notifications/unsubscribe$", "notification", "GET POST"),
    _route(r"^/api/v1/notifications(/.*)?$", "notification"),
    _route(r"^/api/v1/analytics(/.*)?$", "analytics"),
    # The analytics dashboard page and its files (its data comes from the API above).
    _route(r"^/dashboard(/[a-z]+\.js|/static/[a-z-]+\.(js|css))?$", "analytics", "GET", strip=""),
    # Providers call us back here; the body is passed through untouched for its signature.
    _route(r"^/webhooks/[a-z]+$", "payment", "POST", strip=""),
)


# Analytics of one franchise: HQ's request goes where that franchise's figures are (its
# silo, when it has one); a caller of another franchise is refused there as anywhere.
FRANCHISE_PATH = re.compile(r"^/api/v1/analytics/franchises/(?P<franchise>[^/]+)(/|$)")


def franchise_for(route: UpstreamRoute, path: str, caller_franchise: str | None) -> str | None:
    """The franchise whose upstream serves the request: the caller's, except for a
    franchise's analytics, which are served by that franchise's (docs/analytics.md)."""
    if route.service == "analytics" and (m := FRANCHISE_PATH.match(path)):
        return m["franchise"]
    return caller_franchise


OUTLET_PATH = re.compile(r"^/api/v1/outlets/(?P<outlet>[^/]+)/")


def outlet_of(method: str, path: str, body: bytes) -> str | None:
    """The outlet a request is about: in its path, or in the body of an order placement.

    A customer's token names no franchise; the outlet says whose silo (if any) serves the
    request. A customer's order at a silo outlet placed on the pooled order service would
    be run twice: the pool runs its saga in the request, the silo's consumers run it from
    ``order.created`` too, and the two payment services charge one intent."""
    if m := OUTLET_PATH.match(path):
        return m["outlet"]
    if method == "POST" and path == "/api/v1/orders" and body:
        try:
            value = json.loads(body).get("outlet_id")
        except (ValueError, AttributeError):
            return None  # the upstream answers the bad body
        return value if isinstance(value, str) else None
    return None


def match(path: str) -> UpstreamRoute | None:
    for route in ROUTES:
        if route.pattern.match(path):
            return route
    return None


class UpstreamTable:
    """Upstream base URLs, per franchise when the operator has placed it in its own silo."""

    def __init__(self, settings: Settings) -> None:
        self.defaults = {
            "customer": settings.customer_url,
            "menu": settings.menu_url,
            "order": settings.order_url,
            "payment": settings.payment_url,
            "notification": settings.notification_url,
            "analytics": settings.analytics_url,
            "supply": settings.supply_url,
        }
        self.franchises: dict[str, dict[str, str]] = {}
        self.outlets: dict[str, str] = {}  # outlet → franchise, for the franchises in silos
        self.routing_bucket = settings.routing_bucket
        self._entries: RoutingEntries | None = None

    def upstream(self, service: str, franchise_id: str | None = None) -> str:
        if franchise_id and service in self.franchises.get(franchise_id, {}):
            return self.franchises[franchise_id][service]
        return self.defaults[service]

    def outlet_franchise(self, outlet_id: str | None) -> str | None:
        """The franchise of an outlet whose franchise runs in a silo; else None (pooled)."""
        return self.outlets.get(outlet_id) if outlet_id else None

    def apply(self, key: str, value: bytes | None) -> None:
        franchise_id = franchise_of(key)
        if not value:
            self.franchises.pop(franchise_id, None)
            self.outlets = {o: f for o, f in self.outlets.items() if f != franchise_id}
            return
        try:
            entry: dict[str, Any] = json.loads(value)
            upstreams = {k: str(v) for k, v in entry.get("upstreams", {}).items()}
            outlets = [str(o) for o in entry.get("outlets", [])]
        except (ValueError, AttributeError, TypeError):
            log.warning("ignoring a malformed routing entry", extra={"key": key})
            return
        self.franchises[franchise_id] = upstreams
        kept = {o: f for o, f in self.outlets.items() if f != franchise_id}
        self.outlets = {**kept, **dict.fromkeys(outlets, franchise_id)}

    async def start(self, bus: EventBus) -> None:
        self._entries = RoutingEntries(bus, self.routing_bucket)
        await self._entries.watch(self.apply)

    async def stop(self) -> None:
        if self._entries is not None:
            await self._entries.stop()
