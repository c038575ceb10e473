"""Settings of the analytics service (environment variables, like every process)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from bobaku.kernel.settings import Settings


class AnalyticsSettings(Settings):
    service_name: str = Field(default="analytics", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    http_port: int = Field(default=18087, ge=0, le=65535)

    # Business time zone of every bucket (minute, hour, day, month).
    analytics_timezone: str = "Asia/Jakarta"
    # An order whose payment→ready takes longer than this is past the service target.
    analytics_service_target_s: int = Field(default=600, ge=1)
    # Minute buckets are kept this many hours after their minute; hours and days for ever.
    analytics_minute_retention_h: int = Field(default=48, ge=1, le=24 * 31)
    # The projections' durable consumers (the bus prefixes them with DEPLOYMENT_ID). They
    # always start at the beginning of the streams: a projection must see all history.
    analytics_durable: str = Field(default="analytics", pattern=r"^[A-Za-z0-9_-]{1,60}$")
    # At most one analytics.figures_moved per franchise this often (the dashboards' cue).
    analytics_feed_interval_s: float = Field(default=0.5, gt=0, le=60)
    # The hub's websocket as a browser reaches it, for the dashboard page (empty: derived
    # from HUB_URL, right when the browser can reach that address, as under `make run`).
    analytics_hub_public_ws_url: str = Field(default="", pattern=r"^(|wss?://\S+)$")

    # The business metrics on /metrics (service_layer/metrics.py): one replica of an instance
    # exports them, the holder of a lease in Redis it renews at each scrape; held this long
    # (several scrape intervals) after its last scrape before another replica takes over.
    analytics_metrics_lease_s: float = Field(default=90.0, ge=1, le=3600)
    # The forecast's band exported for this hour and the next ones: how many hours.
    analytics_forecast_hours: int = Field(default=3, ge=1, le=24)

    @field_validator("analytics_timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("ANALYTICS_TIMEZONE must be an IANA time zone") from exc
        return v
