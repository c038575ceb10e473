"""The services the order saga calls, each through the kernel's safe client.

Every state-changing call carries ``Idempotency-Key`` = the order id, so repeating a step
after a crash or a timeout has the effect of doing it once.
"""

from __future__ import annotations

import logging
from typing import Any

from bobaku.kernel.client import ServiceClient
from bobaku.kernel.errors import BobakuError
from bobaku.kernel.outlets import OutletDirectory
from bobaku.services.order.adapters.menu_copy import MenuCopies
from bobaku.services.order.domain.errors import (
    InsufficientPoints,
    RedemptionRefused,
    StockUnavailable,
)

log = logging.getLogger(__name__)


class MenuService:
    def __init__(self, client: ServiceClient, outlets: OutletDirectory, copies: MenuCopies) -> None:
        self.client = client
        self.outlets = outlets
        self.copies = copies

    async def franchise_of(self, outlet_id: str) -> str:
        """The franchise an outlet belongs to (404 if there is no such outlet)."""
        return await self.outlets.franchise_of(outlet_id)

    async def quote(self, outlet_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """The quote of the local copy of the outlet's menu while it is current, else the
        menu service's; while that is unreachable, the copy's if no announcement made it
        stale (``adapters/menu_copy.py``)."""
        current = await self.copies.current_quote(outlet_id, items)
        if current is not None:
            return current
        body = {"outlet_id": outlet_id, "items": items}
        try:
            result: dict[str, Any] = await self.client.request(
                "POST", "/internal/quotes", json_body=body, retry_safe=True
            )
        except BobakuError as err:
            if err.status < 500:
                raise
            local = self.copies.quote(outlet_id, items)
            if local is None:
                raise
            log.warning(
                "menu unavailable (%s): an order at %s priced from the local copy (version %s)",
                err.code, outlet_id, local["menu_version"],
            )  # fmt: skip
            return local
        try:
            await self.copies.keep(outlet_id)
        except BobakuError as err:  # the quote stands; the copy is taken next time
            log.warning("could not copy the menu of %s: %s", outlet_id, err.message)
        return result


class SupplyService:
    """The order's ingredients, held by recipe in the supply service (docs/api/supply.md),
    the one holder of stock: idempotent reserve / release / commit keyed by the order id,
    with each line's customizations (sugar and ice levels, toppings)."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def reserve(self, order_id: str, outlet_id: str, items: list[dict[str, Any]]) -> None:
        """:class:`StockUnavailable` when the outlet lacks an ingredient (409)."""
        try:
            await self.client.request(
                "POST",
                "/internal/stock/reservations",
                json_body={"order_id": order_id, "outlet_id": outlet_id, "items": items},
                headers={"Idempotency-Key": order_id},
            )
        except BobakuError as err:
            if err.status == 409:
                raise StockUnavailable(err.code, err.details) from err
            raise

    async def release(self, order_id: str) -> None:
        await self.client.request(
            "POST",
            f"/internal/stock/reservations/{order_id}/release",
            headers={"Idempotency-Key": order_id},
        )

    async def commit(self, order_id: str) -> None:
        await self.client.request(
            "POST",
            f"/internal/stock/reservations/{order_id}/commit",
            headers={"Idempotency-Key": order_id},
        )


class NoStock:
    """Holds nothing (``ORDER_STOCK_SERVICE=none``): the ordering benchmark's baseline, the
    saga without its stock step. Never a deployment's setting: nothing would stop an
    outlet selling what it does not have."""

    async def reserve(self, order_id: str, outlet_id: str, items: list[dict[str, Any]]) -> None:
        return None

    async def release(self, order_id: str) -> None:
        return None

    async def commit(self, order_id: str) -> None:
        return None


StockService = SupplyService | NoStock


class CustomerService:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def redeem(
        self, customer_id: str, order_id: str, reward_ids: list[str]
    ) -> dict[str, Any]:
        """Redeem the rewards; :class:`InsufficientPoints` or :class:`RedemptionRefused`
        when the customer service refuses (404, 409, 422)."""
        try:
            result: dict[str, Any] = await self.client.request(
                "POST",
                f"/internal/loyalty/{customer_id}/redemptions",
                json_body={"order_id": order_id, "reward_ids": reward_ids},
                headers={"Idempotency-Key": order_id},
            )
        except BobakuError as err:
            if err.code == "insufficient_points":
                raise InsufficientPoints(err.code, err.details) from err
            if err.status in (404, 409, 422):
                raise RedemptionRefused(err.code, err.details) from err
            raise
        return result

    async def release(self, customer_id: str, order_id: str) -> None:
        try:
            await self.client.request(
                "POST",
                f"/internal/loyalty/{customer_id}/redemptions/{order_id}/release",
                headers={"Idempotency-Key": order_id},
            )
        except BobakuError as err:
            if err.status != 404:  # nothing was redeemed: nothing to give back
                raise


class PaymentService:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def create_intent(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.client.request(
            "POST",
            "/internal/intents",
            json_body=body,
            headers={"Idempotency-Key": body["order_id"]},
        )
        return result

    async def void(self, intent_id: str) -> str:
        """``voided``, or ``already_captured`` when the money moved before we could stop it."""
        try:
            await self.client.request(
                "POST",
                f"/internal/intents/{intent_id}/void",
                headers={"Idempotency-Key": intent_id},
            )
        except BobakuError as err:
            if err.code == "already_captured":
                return "already_captured"
            raise
        return "voided"

    async def refund(
        self, intent_id: str, amount: int, reason: str, key: str, token: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self.client.request(
            "POST",
            f"/payments/{intent_id}/refunds",
            json_body={"amount": amount, "reason": reason},
            headers={"Idempotency-Key": key},
            token=token,
        )
        return result
