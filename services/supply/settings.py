"""The supply service's settings: the kernel's, plus what only this service needs."""

from __future__ import annotations

from pydantic import Field

from bobaku.kernel.settings import Settings


class SupplySettings(Settings):
    service_name: str = Field(default="supply", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    http_port: int = Field(default=18085, ge=0, le=65535)
    # Outlet stock aggregates keep a snapshot every this many events (0: never).
    stock_snapshot_every: int = Field(default=200, ge=0)
    # Settled reservations and booked references are remembered this long, so a late
    # repeat of the same call is still recognised.
    reservation_memory_days: int = Field(default=7, ge=1)


def supply_settings(settings: Settings) -> SupplySettings:
    if isinstance(settings, SupplySettings):
        return settings
    return SupplySettings(**settings.model_dump(exclude_unset=False))
