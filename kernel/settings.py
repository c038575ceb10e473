"""Typed settings read once from the environment.

Every process builds one :class:`Settings` (``get_settings()``); nothing else in the code
base reads ``os.environ``. Variable names are the field names in upper case, e.g.
``NATS_URL``, ``SERVICE_NAME``, ``JWT_PUBLIC_KEY_FILE``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bobaku.kernel.names import Names, names_for

DEVELOPMENT_ENVIRONMENTS = frozenset({"dev", "test"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    # Identity of this process: it names the event source, the log stream and metrics.
    service_name: str = Field(default="bobaku", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    service_version: str = "0.1.0"
    # dev and test are the explicit development modes (`make run`, the suite and the demo
    # set them): only they accept a secret left at its documented default (see
    # _no_default_secrets). Unset means production, as the chart and the operator run.
    environment: Literal["dev", "test", "staging", "production"] = "production"

    # Infrastructure. The defaults are the ports that scripts/infra.sh binds.
    nats_url: str = "nats://127.0.0.1:14222"
    redis_url: str = "redis://127.0.0.1:16379/0"
    mongodb_url: str = "mongodb://127.0.0.1:27027/"
    # Prefix of every database name, so several deployments can share one server.
    mongodb_db_prefix: str = Field(default="bobaku", pattern=r"^[a-z][a-z0-9_]{0,20}$")
    # A directory: every MongoDB command this process sends is summarised there as a JSON
    # line (``kernel.db.CommandLog``), for the test and the benchmark that check the storage
    # rule (docs/architecture.md). Unset in production.
    mongodb_command_log: Path | None = None

    # HTTP
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    # SO_REUSEPORT: replicas of a service on one machine share its port and the kernel
    # spreads connections over them (scripts/launcher.py's replicas knob). Off by default:
    # with it on, another process of the same user could bind the same port.
    http_reuse_port: bool = False
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    shutdown_timeout_s: float = Field(default=10.0, gt=0)

    # Events
    event_max_deliveries: int = Field(default=5, ge=1, le=100)
    # Names this deployment: its durable consumers (``<deployment_id>-<consumer>``) and,
    # unless it is the default ``bobaku``, its streams, subjects and buckets (a prefix, see
    # kernel/names.py), so two deployments sharing a NATS server (a benchmark beside `make
    # run`) never share a consumer nor see each other's events.
    deployment_id: str = Field(default="bobaku", pattern=r"^[a-z][a-z0-9-]{0,30}$")
    # Whose streams, subjects and key-value buckets this process uses (kernel/names.py):
    # unset, its own deployment's. Set it to run consumers of one's own (named by
    # DEPLOYMENT_ID) over another deployment's data, e.g. a second analytics in a test.
    nats_deployment_id: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,30}$")
    # ``new``: a consumer created now starts at new messages (test runs), instead of
    # replaying the streams' whole history (``all``, what a fresh deployment wants).
    consumers_start_at: Literal["all", "new"] = "all"

    # JWT: RS256/ES256/EdDSA public keys (PEM) that verify tokens; the private key only
    # where tokens are issued (the customer service).
    jwt_issuer: str = "bobaku-customer"
    jwt_audience: str = "bobaku"
    jwt_public_key_file: Path | None = None
    jwt_private_key_file: Path | None = None
    jwt_key_id: str = "dev-1"

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Where the other platform processes are (pooled mode on one machine by default), and
    # the token this process presents on their internal endpoints (a JWT with role service).
    customer_url: str = "http://127.0.0.1:18081"
    menu_url: str = "http://127.0.0.1:18082"
    order_url: str = "http://127.0.0.1:18083"
    payment_url: str = "http://127.0.0.1:18084"
    analytics_url: str = "http://127.0.0.1:18087"
    supply_url: str = "http://127.0.0.1:18085"
    provider_sim_url: str = "http://127.0.0.1:18090"
    notification_url: str = "http://127.0.0.1:18086"
    hub_url: str = "http://127.0.0.1:18888"
    # The payment service's public base URL, as providers must call it back.
    payment_webhook_base_url: str = "http://127.0.0.1:18084"
    service_token: str | None = None
    # How long an outlet's franchise is kept (kernel.outlets); a menu.outlet_changed drops it.
    outlet_directory_ttl_s: float = Field(default=600.0, ge=0)
    # The NATS JetStream key-value bucket of the routing table (kernel.routing_table): the
    # operator writes it, the gateway watches it.
    routing_bucket: str = Field(default="bobaku_routing", pattern=r"^[A-Za-z0-9_-]+$")

    # Deployment shape (kernel/deployment.py): pooled serves every franchise; a silo serves
    # FRANCHISE_ID only and refuses any other franchise's data with 403.
    deployment_mode: Literal["pooled", "silo"] = "pooled"
    franchise_id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    # The merged HQ -> franchise (-> outlet) configuration the operator mounts; re-read
    # every config_reload_s seconds when it changes.
    bobaku_config_file: Path | None = None
    config_reload_s: float = Field(default=2.0, gt=0)

    @property
    def instance_id(self) -> str:
        """Names this process's own state on shared servers: its durable consumers and its
        Redis keyspaces. ``DEPLOYMENT_ID`` for a pooled process; in a silo,
        ``<DEPLOYMENT_ID>-<FRANCHISE_ID>``, so a franchise's silo on the platform's NATS
        and Redis never shares a consumer (or a projection) with the pooled instance of the
        same service, nor with another franchise's silo."""
        if self.deployment_mode == "silo" and self.franchise_id:
            return f"{self.deployment_id}-{self.franchise_id}"
        return self.deployment_id

    @model_validator(mode="after")
    def _no_default_secrets(self) -> Settings:
        """Outside dev/test, a secret (a ``SecretStr`` setting) still at the default printed
        in the docs refuses the start: anyone who read the docs could forge with it."""
        if self.environment in DEVELOPMENT_ENVIRONMENTS:
            return self
        left = sorted(
            name.upper()
            for name, info in type(self).model_fields.items()
            if isinstance(info.default, SecretStr)
            and info.default.get_secret_value()
            and getattr(self, name) == info.default
        )
        if left:
            raise ValueError(
                f"ENVIRONMENT={self.environment} refuses the documented development default "
                f"of {', '.join(left)}: set each to a secret of your own (or ENVIRONMENT=dev "
                "on a development machine)"
            )
        return self

    @property
    def nats_names(self) -> Names:
        """The streams, subjects and buckets this process uses (kernel/names.py)."""
        return names_for(self.nats_deployment_id or self.deployment_id)

    @field_validator("deployment_id", "nats_deployment_id")
    @classmethod
    def _deployment_names(cls, v: str | None) -> str | None:
        if v is not None:
            names_for(v)  # refuses a reserved id (one that is a subject root)
        return v

    @field_validator("nats_url")
    @classmethod
    def _nats_scheme(cls, v: str) -> str:
        if not v.startswith(("nats://", "tls://")):
            raise ValueError("NATS_URL must start with nats:// or tls://")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return v

    @field_validator("mongodb_url")
    @classmethod
    def _mongo_scheme(cls, v: str) -> str:
        if not v.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("MONGODB_URL must start with mongodb:// or mongodb+srv://")
        return v


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings()
