"""The push simulator's settings."""

from __future__ import annotations

from pydantic import Field, SecretStr

from bobaku.kernel.settings import Settings


class PushSimSettings(Settings):
    service_name: str = Field(default="push-sim", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    http_port: int = Field(default=18091, ge=0, le=65535)
    # The bearer credential both APIs expect, and the key receipts are signed with.
    # Outside dev/test the documented default refuses the start (kernel Settings).
    push_credential: SecretStr = SecretStr("dev-push-credential")
    # Where delivery receipts go (the notification service), and how long a device takes.
    notification_url: str = "http://127.0.0.1:18086"
    push_receipt_delay_s: float = Field(default=0.3, ge=0, le=600)
    # Background noise: a share of sends answered 503 (transient) or 429 (rate limited).
    push_transient_rate: float = Field(default=0.0, ge=0, le=1)
    push_rate_limit_rate: float = Field(default=0.0, ge=0, le=1)
    push_retry_after_s: int = Field(default=1, ge=0, le=3600)
