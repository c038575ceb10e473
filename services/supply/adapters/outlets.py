"""Which franchise an outlet belongs to, from the menu service (which registers outlets).

An outlet never changes franchise while it exists, so an answer is kept for the process's
life; an unknown outlet is asked again next time (it may have been registered since).
"""

from __future__ import annotations

from typing import Any

from bobaku.kernel.client import ServiceClient
from bobaku.kernel.errors import BobakuError, NotFound


class Outlets:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client
        self._franchise_of: dict[str, str] = {}

    async def franchise_of(self, outlet_id: str) -> str:
        """The outlet's franchise; :class:`NotFound` for an outlet nobody registered."""
        if outlet_id not in self._franchise_of:
            try:
                outlet: dict[str, Any] = await self.client.request(
                    "GET", f"/outlets/{outlet_id}", retry_safe=True
                )
            except BobakuError as err:
                if err.status == 404:
                    raise NotFound(
                        f"no outlet {outlet_id}", details={"outlet_id": outlet_id}
                    ) from err
                raise
            self._franchise_of[outlet_id] = str(outlet["franchise_id"])
        return self._franchise_of[outlet_id]

    async def close(self) -> None:
        await self.client.close()
