"""Settings of the payment service (environment variables, like every process)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator

from bobaku.kernel.settings import Settings


class PaymentSettings(Settings):
    service_name: str = Field(default="payment", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    http_port: int = Field(default=18084, ge=0, le=65535)

    # How long a customer has to pay an intent before it expires.
    payment_intent_ttl_s: float = Field(default=900, gt=0)
    # How often the deadline sweeper looks for due expiries and unfinished refunds.
    payment_sweep_interval_s: float = Field(default=1.0, gt=0)
    # When a provider did not answer a refund, try it again after this long.
    payment_refund_retry_s: float = Field(default=15.0, gt=0)
    # Calls to providers: one attempt's timeout and how many retries (all carry an
    # Idempotency-Key, so a retry never charges or refunds twice).
    payment_provider_timeout_s: float = Field(default=5.0, gt=0)
    payment_provider_retries: int = Field(default=2, ge=0, le=5)

    # The read-model projector: its durable consumer (the bus prefixes it with
    # DEPLOYMENT_ID; CONSUMERS_START_AT decides whether a new one replays the payment history),
    # and the lease that keeps it to one process so each counters document has one writer.
    payment_projector_durable: str = Field(
        default="payment-projector", pattern=r"^[A-Za-z0-9_-]{1,64}$"
    )
    payment_projector_lease_s: float = Field(default=10.0, gt=0)

    # Business day of the settlement reports.
    settlement_timezone: str = "Asia/Jakarta"

    # Where each provider's merchant API is; unset means the simulator (PROVIDER_SIM_URL).
    provider_url_gopay: str | None = None
    provider_url_ovo: str | None = None
    provider_url_dana: str | None = None
    provider_url_shopeepay: str | None = None
    provider_url_qris: str | None = None
    provider_url_card: str | None = None

    # The HMAC keys providers sign their callbacks with.
    provider_secret_gopay: SecretStr = SecretStr("dev-secret-gopay")
    provider_secret_ovo: SecretStr = SecretStr("dev-secret-ovo")
    provider_secret_dana: SecretStr = SecretStr("dev-secret-dana")
    provider_secret_shopeepay: SecretStr = SecretStr("dev-secret-shopeepay")
    provider_secret_qris: SecretStr = SecretStr("dev-secret-qris")
    provider_secret_card: SecretStr = SecretStr("dev-secret-card")

    @field_validator("settlement_timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    def secret_of(self, provider: str) -> bytes:
        secret: SecretStr = getattr(self, f"provider_secret_{provider}")
        return secret.get_secret_value().encode()

    def provider_url(self, provider: str) -> str:
        url: str | None = getattr(self, f"provider_url_{provider}")
        return url or f"{self.provider_sim_url.rstrip('/')}/{provider}"


def payment_settings(settings: Settings) -> PaymentSettings:
    """The payment settings of ``settings`` (the generic ones take the payment defaults)."""
    if isinstance(settings, PaymentSettings):
        return settings
    return PaymentSettings(**settings.model_dump())
