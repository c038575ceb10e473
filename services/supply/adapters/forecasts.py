"""The analytics service's demand forecast, as supply's reorder suggestions read it.

``GET /analytics/franchises/{fr}/outlets/{outlet}/forecast`` (docs/api/analytics.md): the
outlet's best-selling items' cups for each of the next 7 days. Asked with the caller's own
token (analytics decides who may see an outlet's forecast). Analytics being down, slow or
refusing is not the supply service's failure: :meth:`DemandForecasts.daily_cups` then
answers why not, and the suggestion falls back to par levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bobaku.kernel.client import ServiceClient
from bobaku.kernel.errors import BobakuError

# The forecast's horizon and item count (analytics caps both).
HORIZON_DAYS = 7
ITEMS = 20


@dataclass(frozen=True)
class Forecast:
    """Cups per menu item for each day from ``first_day`` on; or why there is none."""

    cups: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    first_day: str | None = None
    unavailable: str | None = None


class DemandForecasts:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def daily_cups(self, franchise_id: str, outlet_id: str, token: str | None) -> Forecast:
        path = f"/analytics/franchises/{franchise_id}/outlets/{outlet_id}/forecast"
        try:
            data = await self.client.request("GET", path, params={"limit": str(ITEMS)}, token=token)
            cups = {
                str(item["id"]): tuple(float(p["cups"]) for p in item["daily"])
                for item in data["items"]
            }
        except BobakuError as exc:
            return Forecast(unavailable=f"analytics: {exc.code}: {exc}")
        except (KeyError, TypeError, ValueError) as exc:
            return Forecast(unavailable=f"analytics answered an unexpected shape: {exc!r}")
        return Forecast(cups, str(data.get("from")))
