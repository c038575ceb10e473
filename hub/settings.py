"""The hub's settings: the kernel's, plus the hub's own limits and names.

Every field is read from the environment under its upper-case name (``HUB_STREAM``,
``HUB_MAX_SUBSCRIPTIONS``, ``GATEWAY_PUBLIC_URL``...). The defaults suit one machine;
several replicas share the same ``HUB_STREAM``, ``HUB_SUBJECT_PREFIX`` and
``HUB_PRESENCE_BUCKET`` so that they agree on positions and presence.
"""

from __future__ import annotations

import os
import socket

from pydantic import Field, model_validator

from bobaku.kernel.settings import Settings


class HubSettings(Settings):
    service_name: str = Field(default="hub", pattern=r"^[a-z][a-z0-9-]{1,40}$")
    http_port: int = Field(default=18888, ge=0, le=65535)

    # Names the replicas of a deployment share. Deployments on one NATS server keep apart
    # by DEPLOYMENT_ID inside them (subjects, presence keys, router consumers); a separate
    # stream is only needed for different stream limits (history size and age).
    hub_stream: str = Field(default="HUB", pattern=r"^[A-Z][A-Z0-9_]{0,31}$")
    hub_subject_prefix: str = Field(default="hub", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    hub_presence_bucket: str = Field(default="hub_presence", pattern=r"^[a-z][a-z0-9_]{0,63}$")
    # This replica's name in presence entries and logs; empty means "<host>-<pid>".
    hub_node_id: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,64}$")

    # Channel history (what recovery can replay): per channel, and in time.
    hub_history_size: int = Field(default=1000, ge=1, le=1_000_000)
    hub_history_ttl_s: float = Field(default=24 * 3600, ge=60)
    # A reconnecting client that missed more than this reloads over HTTP instead.
    hub_recovery_max_publications: int = Field(default=1000, ge=1, le=100_000)

    # Limits per client.
    hub_max_connections: int = Field(default=20_000, ge=1)
    hub_max_subscriptions: int = Field(default=128, ge=1, le=10_000)
    hub_max_message_bytes: int = Field(default=65_536, ge=1024)
    hub_client_queue_frames: int = Field(default=1000, ge=1)
    hub_client_queue_bytes: int = Field(default=4 * 1024 * 1024, ge=4096)
    # SO_SNDBUF of client sockets; 0 keeps the kernel's autotuning. A small fixed buffer
    # bounds kernel memory per connection and makes a stalled client visible sooner.
    hub_socket_send_buffer_bytes: int = Field(default=0, ge=0)
    hub_connect_timeout_s: float = Field(default=10.0, gt=0)
    # A client the hub closes (slow, heartbeat, shutdown...) gets this long to read what was
    # queued before the close frame and to answer it; then its socket is aborted.
    hub_close_grace_s: float = Field(default=5.0, gt=0)
    # The hub pings every interval; a client that has not answered by the next ping is gone.
    hub_ping_interval_s: float = Field(default=25.0, gt=0)
    hub_listen_backlog: int = Field(default=2048, ge=16)

    # Python's cyclic garbage collector: a full collection walks every live object, and
    # with thousands of connections that pauses every client. A higher first threshold lets
    # short-lived objects (one per frame written) die before they are promoted; 0 keeps
    # Python's default (700).
    hub_gc_threshold: int = Field(default=50_000, ge=0)

    # Presence entries live this long in the shared bucket unless their replica refreshes them.
    hub_presence_ttl_s: float = Field(default=30.0, ge=1)

    # Authorization lookups (order service, menu service) and how long answers are reused.
    hub_upstream_timeout_s: float = Field(default=3.0, gt=0)
    hub_order_access_cache_s: float = Field(default=60.0, ge=0)
    hub_outlet_cache_s: float = Field(default=600.0, ge=0)

    # The channel router's redelivery timeout for a source event it has not acknowledged.
    hub_router_ack_wait_s: float = Field(default=10.0, ge=1)

    # What the static pages are told: where the gateway is, where the hub's websocket is
    # (empty: the page's own origin), and the kitchen's service target.
    gateway_public_url: str = "http://127.0.0.1:18080"
    hub_public_ws_url: str = ""
    kds_target_s: int = Field(default=300, ge=10)
    kds_warn_s: int = Field(default=240, ge=5)

    @model_validator(mode="after")
    def _warn_before_target(self) -> HubSettings:
        if self.kds_warn_s >= self.kds_target_s:
            raise ValueError("KDS_WARN_S must be smaller than KDS_TARGET_S")
        return self

    @property
    def channel_prefix(self) -> str:
        """Subjects of this deployment's channels: ``<prefix>.<deployment>.<ns>.<id>``."""
        return f"{self.hub_subject_prefix}.{self.deployment_id}"

    @property
    def node_id(self) -> str:
        return self.hub_node_id or f"{socket.gethostname()}-{os.getpid()}"[:64]
