"""Who may subscribe to which channel.

- ``user:{id}:inbox``: the user whose token ``sub`` is ``id``.
- ``franchise:{id}:ops``: hq_admin; the franchise_owner whose token names franchise ``id``.
- ``outlet:{id}:kitchen``: hq_admin; staff or outlet_manager whose token lists outlet
  ``id``; the franchise_owner of the outlet's franchise, as the menu service names it
  (``GET {MENU_URL}/outlets/{id}``, through the kernel's :class:`OutletDirectory`: cached,
  and dropped on ``menu.outlet_changed``).
- ``order:{id}``: whoever the order service lets read the order: ``GET
  {ORDER_URL}/orders/{id}`` with the client's own token; 200 = yes, 401/403/404 = no
  (a yes is reused briefly per user and order).

The order service and the menu service are the authorities on their data, so the hub asks
them instead of keeping a copy. When they cannot answer, the subscription fails as
``unavailable`` (retry later), never as allowed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp

from bobaku.hub.channels import Channel, Namespace
from bobaku.hub.settings import HubSettings
from bobaku.kernel.auth import Principal, Role
from bobaku.kernel.errors import BobakuError
from bobaku.kernel.outlets import OutletDirectory

security_log = logging.getLogger("bobaku.security")
log = logging.getLogger(__name__)

_CACHE_LIMIT = 50_000


class SubscriptionRefused(Exception):
    """The caller may not read this channel."""


class AuthorityUnavailable(Exception):
    """The service that decides could not be asked; nothing was allowed."""


class ChannelAuthorizer:
    def __init__(
        self, settings: HubSettings, http: aiohttp.ClientSession, outlets: OutletDirectory
    ) -> None:
        self.settings = settings
        self.http = http
        self.outlets = outlets
        self.timeout = aiohttp.ClientTimeout(total=settings.hub_upstream_timeout_s)
        self._order_access: dict[tuple[str, str], float] = {}

    async def authorize(self, who: Principal, token: str, channel: Channel) -> None:
        """Return if ``who`` may subscribe; raise :class:`SubscriptionRefused` if not."""
        try:
            await self._check(who, token, channel)
        except SubscriptionRefused as exc:
            security_log.warning(
                "channel subscription refused",
                extra={
                    "security_event": "channel_refused",
                    "subject": who.subject,
                    "channel": channel.name,
                    "reason": str(exc),
                },
            )
            raise

    async def _check(self, who: Principal, token: str, channel: Channel) -> None:
        namespace, ident = channel.namespace, channel.id
        if namespace is Namespace.INBOX:
            if who.subject != ident:
                raise SubscriptionRefused("an inbox is readable only by its user")
        elif namespace is Namespace.OPS:
            if who.has_role(Role.HQ_ADMIN):
                return
            if not (who.has_role(Role.FRANCHISE_OWNER) and who.franchise_id == ident):
                raise SubscriptionRefused("the operations feed is for the franchise's owner and HQ")
        elif namespace is Namespace.KITCHEN:
            await self._check_kitchen(who, ident)
        elif namespace is Namespace.ORDER:
            await self._check_order(who, token, ident)

    async def _check_kitchen(self, who: Principal, outlet_id: str) -> None:
        if who.has_role(Role.HQ_ADMIN):
            return
        if who.has_role(Role.STAFF, Role.OUTLET_MANAGER) and outlet_id in who.outlet_ids:
            return
        if (
            who.has_role(Role.FRANCHISE_OWNER)
            and who.franchise_id
            and await self.franchise_of_outlet(outlet_id) == who.franchise_id
        ):
            return
        raise SubscriptionRefused("a kitchen feed is for its outlet's staff and its owner")

    async def _check_order(self, who: Principal, token: str, order_id: str) -> None:
        key = (who.subject, order_id)
        now = time.monotonic()
        if self._order_access.get(key, 0.0) > now:
            return
        status = await self._get_status(
            f"{self.settings.order_url}/orders/{order_id}", token, "order service"
        )
        if status == 200:
            self._store(self._order_access, key, now + self.settings.hub_order_access_cache_s)
            return
        if status in (401, 403, 404):
            raise SubscriptionRefused("the order service does not let you read this order")
        raise AuthorityUnavailable(f"the order service answered {status}")

    async def franchise_of_outlet(self, outlet_id: str) -> str | None:
        try:
            return await self.outlets.lookup(outlet_id)
        except BobakuError as exc:
            raise AuthorityUnavailable(f"the menu service could not answer: {exc}") from exc

    async def _get_status(self, url: str, token: str, who: str) -> int:
        try:
            async with self.http.get(
                url, headers={"Authorization": f"Bearer {token}"}, timeout=self.timeout
            ) as resp:
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AuthorityUnavailable(f"the {who} could not be asked: {exc!r}") from exc

    @staticmethod
    def _store(cache: dict[Any, Any], key: Any, value: Any) -> None:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()  # simple and bounded; entries are cheap to ask for again
        cache[key] = value
