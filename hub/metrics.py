"""The hub's Prometheus metrics (``/metrics``). Labels stay low-cardinality: namespaces,
reasons and outcomes, never channel or user ids."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from bobaku.hub.channels import Namespace

CONNECTIONS = Gauge("bobaku_hub_connections", "Websocket connections open on this replica")
CONNECTIONS_ACCEPTED = Counter(
    "bobaku_hub_connections_accepted_total", "Websocket connections that authenticated"
)
DISCONNECTS = Counter(
    "bobaku_hub_disconnects_total",
    "Connections that ended, by reason (client, slow_client, heartbeat_timeout, ...)",
    ["reason"],
)
SUBSCRIPTIONS = Gauge(
    "bobaku_hub_subscriptions", "Channel subscriptions held on this replica", ["namespace"]
)
SUBSCRIBE_REFUSALS = Counter(
    "bobaku_hub_subscribe_refusals_total", "Subscriptions refused, by code", ["namespace", "code"]
)
MESSAGES_IN = Counter("bobaku_hub_messages_in_total", "Frames received from clients, by op", ["op"])
MESSAGES_OUT = Counter(
    "bobaku_hub_messages_out_total",
    "Frames queued to clients, by kind (pub, reply, ping, join, leave)",
    ["kind"],
)
PUBLICATIONS_RECEIVED = Counter(
    "bobaku_hub_publications_received_total",
    "Channel publications this replica read from the history stream",
    ["namespace"],
)
PUBLICATIONS_ROUTED = Counter(
    "bobaku_hub_publications_routed_total",
    "Channel publications the router stored (duplicate=true: a repeat the server dropped)",
    ["namespace", "duplicate"],
)
CLOSE_ABORTS = Counter(
    "bobaku_hub_close_aborts_total",
    "Connections the hub closed whose client did not answer the close frame within "
    "HUB_CLOSE_GRACE_S: their sockets were aborted",
)
DROPS = Counter(
    "bobaku_hub_drops_total",
    "Frames not delivered to a client, by reason (slow_client, closed)",
    ["reason"],
)
RECOVERIES = Counter(
    "bobaku_hub_recoveries_total",
    "Subscriptions that asked to recover, by outcome (recovered or the reason they could not)",
    ["outcome"],
)
RECOVERED_PUBLICATIONS = Counter(
    "bobaku_hub_recovered_publications_total", "Publications replayed to recovering clients"
)
PRESENCE_EVENTS = Counter(
    "bobaku_hub_presence_events_total", "Presence changes seen on kitchen channels", ["kind"]
)
DELIVERY_LATENCY = Histogram(
    "bobaku_hub_delivery_latency_seconds",
    "From an event's timestamp to its publication being handed to the sockets of every "
    "subscriber on this replica",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FANOUT_SIZE = Histogram(
    "bobaku_hub_fanout_subscribers",
    "Local subscribers a publication was delivered to",
    buckets=(0, 1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000),
)
EVENT_LOOP_LAG = Histogram(
    "bobaku_hub_event_loop_lag_seconds",
    "How late a timer fires on the hub's event loop: work that blocks every client",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# Series exist from the start (at 0), so dashboards and rate() see "none yet" rather than
# "no data" before the first subscription or drop.
for _ns in Namespace:
    SUBSCRIPTIONS.labels(_ns.value)
    PUBLICATIONS_RECEIVED.labels(_ns.value)
for _reason in ("slow_client", "closed"):
    DROPS.labels(_reason)
