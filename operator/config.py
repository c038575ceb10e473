"""The operator's settings: the kernel's :class:`Settings` plus what only the operator reads.

Variable names are the field names in upper case, as everywhere in the platform
(``OPERATOR_NAMESPACE``, ``OPERATOR_RESYNC_S``, ``KUBECONFIG``…).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from bobaku.kernel.settings import Settings
from bobaku.services.payment.domain.fees import PROVIDERS


class OperatorSettings(Settings):
    service_name: str = Field(default="bobaku-operator", pattern=r"^[a-z][a-z0-9-]{1,40}$")

    # The platform namespace: where the operator, gateway and hub run, where the HQ
    # configuration lives, where Events about Franchises and Outlets are posted, and the
    # only namespace besides its own that a franchise namespace admits traffic from.
    operator_namespace: str = Field(default="bobaku-system", pattern=r"^[a-z0-9-]{1,63}$")
    # The ConfigMap (in the platform namespace) with HQ's configuration, key `config.json`.
    operator_hq_config_map: str = "bobaku-hq-config"
    # Every Franchise and Outlet is reconciled again this often: drift is corrected and
    # HQ configuration changes reach every franchise within this time.
    operator_resync_s: float = Field(default=60.0, ge=1.0)
    # How soon an Outlet whose Franchise is missing or not ready yet is tried again.
    operator_retry_s: float = Field(default=15.0, ge=0.5)
    # The image of the silo services (SILO_SERVICES in model.py).
    operator_service_image: str = "ghcr.io/bobaku/bobaku-platform:0.1.0"
    operator_image_pull_policy: str = Field(
        default="IfNotPresent", pattern=r"^(Always|IfNotPresent|Never)$"
    )
    operator_cluster_domain: str = "cluster.local"
    # A HorizontalPodAutoscaler per silo service; off on a cluster without a metrics
    # server (the one-node cluster), where it would never scale and only warn.
    operator_silo_autoscaling: bool = True
    # The CPU each silo pod requests, in millicores, instead of its tier's (0: the tier's).
    # For a small test node that packs many franchises (the one-node cluster: 2 cores for
    # the platform and 10 franchises in make bench-operator-node); limits and the quota
    # stay the tier's.
    operator_silo_cpu_request_m: int = Field(default=0, ge=0, le=8000)
    # Addresses the silo services use, when they differ from the operator's own.
    operator_tenant_mongodb_url: str | None = None
    operator_tenant_nats_url: str | None = None
    operator_tenant_redis_url: str | None = None
    # The hub's websocket as a browser reaches it, for the silo analytics' dashboard page
    # (the chart passes services.analytics.env.ANALYTICS_HUB_PUBLIC_WS_URL; empty: derived).
    operator_analytics_hub_public_ws_url: str = Field(default="", pattern=r"^(|wss?://\S+)$")

    # The payment providers' callback HMAC keys (the chart passes auth.providerSecret's keys):
    # copied into each franchise namespace's Secret PROVIDER_SECRET (plan.py), which the silo
    # payment service reads. Unset: the silos get none and, outside dev/test, refuse to start
    # rather than verify callbacks with the documented defaults.
    provider_secret_gopay: SecretStr | None = None
    provider_secret_ovo: SecretStr | None = None
    provider_secret_dana: SecretStr | None = None
    provider_secret_shopeepay: SecretStr | None = None
    provider_secret_qris: SecretStr | None = None
    provider_secret_card: SecretStr | None = None

    # Outside a pod: the kubeconfig to use (the standard variable).
    kubeconfig: Path | None = None

    @property
    def provider_secrets(self) -> dict[str, str]:
        """``PROVIDER_SECRET_<PROVIDER>`` → key, for the providers whose key was given."""
        found = {}
        for provider in PROVIDERS:
            secret: SecretStr | None = getattr(self, f"provider_secret_{provider}")
            if secret is not None and secret.get_secret_value():
                found[f"PROVIDER_SECRET_{provider.upper()}"] = secret.get_secret_value()
        return found

    @property
    def tenant_mongodb_url(self) -> str:
        return self.operator_tenant_mongodb_url or self.mongodb_url

    @property
    def tenant_nats_url(self) -> str:
        return self.operator_tenant_nats_url or self.nats_url

    @property
    def tenant_redis_url(self) -> str:
        return self.operator_tenant_redis_url or self.redis_url
