"""The notification service's settings: the kernel's, plus what only this service uses."""

from __future__ import annotations

from pydantic import Field, SecretStr

from bobaku.kernel.settings import Settings


class NotificationSettings(Settings):
    service_name: str = Field(default="notification", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    http_port: int = Field(default=18086, ge=0, le=65535)

    # Where unsubscribe links point (the gateway's public address).
    gateway_public_url: str = "http://127.0.0.1:18080"
    # Signs unsubscribe links (HMAC-SHA256). Outside ENVIRONMENT dev/test the documented
    # default refuses the start (kernel Settings); links signed with an old key stop working.
    notification_signing_key: SecretStr = Field(
        default=SecretStr("dev-notification-key"), min_length=8
    )

    # SMTP (Mailpit under `make run` and the tests).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=11025, ge=1, le=65535)
    smtp_timeout_s: float = Field(default=5.0, gt=0)
    email_from: str = "BobaKu <no-reply@bobaku.id>"
    message_id_domain: str = "notify.bobaku.id"

    # Push providers: the simulator answers both the FCM and the APNs API.
    push_sim_url: str = "http://127.0.0.1:18091"
    fcm_url: str | None = None  # default: <push_sim_url>/fcm
    apns_url: str | None = None  # default: <push_sim_url>/apns
    fcm_project: str = "bobaku-app"
    apns_topic: str = "id.bobaku.app"
    # The providers' bearer credential; also the key push receipts are signed with. A
    # secret: outside dev/test the documented default refuses the start.
    push_credential: SecretStr = SecretStr("dev-push-credential")
    push_timeout_s: float = Field(default=5.0, gt=0)

    # Delivery: back-off per channel (seconds before each retry; the last repeats) and the
    # number of tries before a notification's channel fails and is dead-lettered.
    in_app_retry_delays_s: tuple[float, ...] = (1.0, 5.0, 30.0)
    email_retry_delays_s: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0)
    push_retry_delays_s: tuple[float, ...] = (2.0, 10.0, 60.0)
    in_app_tries: int = Field(default=5, ge=1, le=50)
    email_tries: int = Field(default=8, ge=1, le=200)
    push_tries: int = Field(default=6, ge=1, le=50)
    # Pullers per consumer: handlers wait on I/O (the customer service, SMTP, providers), so
    # several in flight keep a channel busy. 1 keeps strict order (nothing here needs it).
    notification_workers: int = Field(default=4, ge=1, le=64)
    # A Retry-After longer than this is capped (the message is redelivered then).
    max_retry_after_s: float = Field(default=300.0, gt=0)

    # Staff alerts: an order still not ready this long after its estimated completion (the
    # service target). Negative: warn that long before the estimate (the suite uses it to
    # see the alert within seconds of the order reaching the kitchen).
    late_grace_s: float = Field(default=300.0, ge=-3600, le=24 * 3600)
    # Payment failures in this window (per franchise and provider) that raise an alert.
    provider_failure_window_s: int = Field(default=600, ge=10)
    provider_failure_threshold: int = Field(default=3, ge=1)
    # How long a customer's card (language, email, profile switches) is kept per user: a
    # profile change applies to notifications within this time (0: read it every time).
    customer_card_ttl_s: float = Field(default=30.0, ge=0, le=3600)
    # The hub's presence bucket (kitchen displays online), as the hub names it.
    hub_presence_bucket: str = Field(default="hub_presence", pattern=r"^[a-z][a-z0-9_]{0,63}$")
    hub_deployment_id: str | None = None  # default: DEPLOYMENT_ID

    @property
    def fcm_base(self) -> str:
        return self.fcm_url or f"{self.push_sim_url.rstrip('/')}/fcm"

    @property
    def apns_base(self) -> str:
        return self.apns_url or f"{self.push_sim_url.rstrip('/')}/apns"
