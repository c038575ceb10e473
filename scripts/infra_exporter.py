"""Prometheus metrics for NATS (JetStream) and Redis, which do not speak Prometheus.

NATS's monitoring endpoint serves JSON (``/varz``, ``/jsz``) and Redis answers ``INFO``;
the usual exporters for both are not served by the Go module proxy, so this collector reads
them on each scrape (no cache, no background thread) and exposes:

- ``nats_up``, ``nats_connections``, ``nats_in_msgs_total``, ``nats_out_msgs_total``,
  ``nats_slow_consumers_total``
- ``nats_jetstream_stream_messages{stream}``, ``nats_jetstream_stream_bytes{stream}``
- ``nats_jetstream_consumer_pending{stream,consumer}`` (lag: messages not yet delivered),
  ``nats_jetstream_consumer_ack_pending{stream,consumer}``,
  ``nats_jetstream_consumer_redelivered{stream,consumer}``
- ``redis_up``, ``redis_connected_clients``, ``redis_used_memory_bytes``,
  ``redis_commands_processed_total``, ``redis_keyspace_hits_total``,
  ``redis_keyspace_misses_total``, ``redis_evicted_keys_total``

Started by scripts/observability.sh; scraped as job ``infra``.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client import start_http_server
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


def _get_json(url: str) -> Any:
    # B310: http URLs of the local servers this script was given, never user input
    with urllib.request.urlopen(url, timeout=2) as resp:  # nosec B310
        return json.loads(resp.read())


class NatsCollector(Collector):
    def __init__(self, monitor_url: str) -> None:
        self.url = monitor_url.rstrip("/")

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("nats_up", "1 when NATS's monitoring endpoint answered")
        try:
            varz = _get_json(f"{self.url}/varz")
            jsz = _get_json(f"{self.url}/jsz?streams=true&consumers=true")
        except OSError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("nats_connections", "Client connections", value=varz["connections"])
        yield CounterMetricFamily("nats_in_msgs", "Messages received", value=varz["in_msgs"])
        yield CounterMetricFamily("nats_out_msgs", "Messages sent", value=varz["out_msgs"])
        yield CounterMetricFamily(
            "nats_slow_consumers", "Clients dropped as slow", value=varz.get("slow_consumers", 0)
        )
        msgs = GaugeMetricFamily("nats_jetstream_stream_messages", "Messages", labels=["stream"])
        size = GaugeMetricFamily("nats_jetstream_stream_bytes", "Bytes stored", labels=["stream"])
        labels = ["stream", "consumer"]
        pending = GaugeMetricFamily(
            "nats_jetstream_consumer_pending", "Messages not yet delivered (lag)", labels=labels
        )
        ack_pending = GaugeMetricFamily(
            "nats_jetstream_consumer_ack_pending", "Delivered, not yet acknowledged", labels=labels
        )
        redelivered = GaugeMetricFamily(
            "nats_jetstream_consumer_redelivered", "Messages redelivered", labels=labels
        )
        for account in jsz.get("account_details") or []:
            for stream in account.get("stream_detail") or []:
                name = stream["name"]
                state = stream.get("state") or {}
                msgs.add_metric([name], state.get("messages", 0))
                size.add_metric([name], state.get("bytes", 0))
                for consumer in stream.get("consumer_detail") or []:
                    key = [name, consumer["name"]]
                    pending.add_metric(key, consumer.get("num_pending", 0))
                    ack_pending.add_metric(key, consumer.get("num_ack_pending", 0))
                    redelivered.add_metric(key, consumer.get("num_redelivered", 0))
        yield from (msgs, size, pending, ack_pending, redelivered)


class RedisCollector(Collector):
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("redis_up", "1 when Redis answered INFO")
        try:
            info: dict[str, Any] = self.client.info()
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        gauges = {
            "connected_clients": "redis_connected_clients",
            "used_memory": "redis_used_memory_bytes",
        }
        for key, name in gauges.items():
            yield GaugeMetricFamily(name, f"INFO {key}", value=float(info.get(key, 0)))
        counters = {
            "total_commands_processed": "redis_commands_processed",
            "keyspace_hits": "redis_keyspace_hits",
            "keyspace_misses": "redis_keyspace_misses",
            "evicted_keys": "redis_evicted_keys",
        }
        for key, name in counters.items():
            yield CounterMetricFamily(name, f"INFO {key}", value=float(info.get(key, 0)))


def main() -> None:
    parser = argparse.ArgumentParser(description="NATS and Redis metrics for Prometheus")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nats-monitor", required=True)
    parser.add_argument("--redis", required=True)
    args = parser.parse_args()
    REGISTRY.register(NatsCollector(args.nats_monitor))
    REGISTRY.register(RedisCollector(args.redis))
    start_http_server(args.port, addr="127.0.0.1")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
