"""Settings of the provider simulator (environment variables, like every process)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from bobaku.kernel.settings import Settings


class ProviderSimSettings(Settings):
    service_name: str = Field(default="provider-sim", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    http_port: int = Field(default=18090, ge=0, le=65535)

    # "realistic": settlement takes a while and some charges fail, time out or call back
    # twice, as in production. "instant": settle at once, never misbehave (benchmarks).
    provider_sim_mode: Literal["realistic", "instant"] = "realistic"
    # Seed of the random outcomes, for a reproducible run; unset means a fresh one.
    provider_sim_seed: int | None = None

    # Realistic-mode behaviour of every provider; POST /_control/{provider} changes it live.
    provider_settlement_delay_s: float = Field(default=2.0, ge=0, le=3600)
    provider_failure_rate: float = Field(default=0.05, ge=0, le=1)
    provider_timeout_rate: float = Field(default=0.02, ge=0, le=1)
    provider_duplicate_rate: float = Field(default=0.10, ge=0, le=1)
    provider_reorder_rate: float = Field(default=0.05, ge=0, le=1)
    # Share of charge/refund API calls answered 503 (the merchant must retry them).
    provider_api_error_rate: float = Field(default=0.0, ge=0, le=1)

    # How long the customer has to pay before the provider gives the charge up.
    provider_charge_ttl_s: int = Field(default=900, ge=1)
    # Callback delivery: one attempt's timeout, and the pauses between attempts (realistic
    # mode; instant mode retries within a few seconds).
    provider_callback_timeout_s: float = Field(default=5.0, gt=0)
    provider_callback_retry_delays_s: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)

    # The HMAC keys the providers sign callbacks with (the merchant holds the same ones).
    provider_secret_gopay: SecretStr = SecretStr("dev-secret-gopay")
    provider_secret_ovo: SecretStr = SecretStr("dev-secret-ovo")
    provider_secret_dana: SecretStr = SecretStr("dev-secret-dana")
    provider_secret_shopeepay: SecretStr = SecretStr("dev-secret-shopeepay")
    provider_secret_qris: SecretStr = SecretStr("dev-secret-qris")
    provider_secret_card: SecretStr = SecretStr("dev-secret-card")

    def secret_of(self, provider: str) -> bytes:
        secret: SecretStr = getattr(self, f"provider_secret_{provider}")
        return secret.get_secret_value().encode()
