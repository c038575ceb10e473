"""The menu service's settings: the kernel's, plus what only this service needs."""

from __future__ import annotations

from pydantic import Field, field_validator

from bobaku.kernel.settings import Settings
from bobaku.services.menu.domain.model import valid_timezone


class MenuSettings(Settings):
    service_name: str = Field(default="menu", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    http_port: int = Field(default=18082, ge=0, le=65535)

    # Outlets without a time zone of their own keep Jakarta time (WIB).
    default_timezone: str = "Asia/Jakarta"
    # Cached menus and catalog reads live this long at most; change events drop them sooner.
    menu_cache_ttl_s: int = Field(default=300, ge=1)
    # How often changes whose event could not be published at once are published again.
    outbox_sweep_interval_s: float = Field(default=5.0, gt=0)

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        if not valid_timezone(v):
            raise ValueError("DEFAULT_TIMEZONE must be an IANA time zone, e.g. Asia/Jakarta")
        return v


def menu_settings(settings: Settings) -> MenuSettings:
    """The menu settings for ``settings`` (the kernel's own fields are kept as given)."""
    if isinstance(settings, MenuSettings):
        return settings
    given = settings.model_dump(exclude_unset=False)
    return MenuSettings(**given)
