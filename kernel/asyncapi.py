"""An AsyncAPI 3.0 document of every subject and event schema, generated from the stream
catalog (:mod:`bobaku.kernel.streams`) and the schema registry (``kernel/events/schemas``).

Channels are subjects: one per integration event type on ``events.{tenant}.{type}``, one per
aggregate stream on ``es.<kind>.{tenant}.{id}`` carrying all of its kind's types, and the
dead-letter stream. Every message is the platform's envelope with ``data`` the type's JSON
Schema (the latest version; every version is in ``components.schemas``). One ``send``
operation per channel says who publishes it. The gateway serves it at
``/api/v1/asyncapi.json`` beside the OpenAPI document.
"""

from __future__ import annotations

import re
from typing import Any

from bobaku.kernel.events import SchemaRegistry, default_registry
from bobaku.kernel.streams import CATALOG, Stream

ASYNCAPI_VERSION = "3.0.0"

ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type", "timestamp", "version", "source", "data", "metadata"],
    "properties": {
        "id": {"type": "string", "description": "event id; also the Nats-Msg-Id header"},
        "type": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time", "description": "UTC, with Z"},
        "version": {"type": "string"},
        "source": {"type": "string"},
        "tenant": {"type": ["string", "null"], "description": "franchise id; null brand-wide"},
        "data": {"type": "object"},
        "metadata": {
            "type": "object",
            "required": ["correlation_id", "trace_id"],
            "properties": {
                "correlation_id": {"type": "string"},
                "trace_id": {"type": "string"},
            },
        },
    },
}

_PARAMETER = re.compile(r"\{([a-z_]+)\}")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _latest(registry: SchemaRegistry) -> dict[str, str]:
    latest: dict[str, str] = {}
    for event_type, version in registry:
        if event_type not in latest or _version_key(version) > _version_key(latest[event_type]):
            latest[event_type] = version
    return latest


def _schema_key(event_type: str, version: str) -> str:
    return f"{event_type}.v{version}"


def _channel_id(stream: Stream, event_type: str | None = None) -> str:
    return f"{stream.name}.{event_type}" if event_type else stream.name


def _parameters(address: str) -> dict[str, Any]:
    return {
        name: {"description": "franchise id, or brand" if name == "tenant" else name}
        for name in _PARAMETER.findall(address)
    }


def asyncapi_document(
    version: str = "0.1.0",
    registry: SchemaRegistry | None = None,
    catalog: tuple[Stream, ...] = CATALOG,
) -> dict[str, Any]:
    registry = registry or default_registry()
    latest = _latest(registry)
    schemas: dict[str, Any] = {"Envelope": ENVELOPE}
    for event_type, event_version in registry:
        schemas[_schema_key(event_type, event_version)] = registry.schema(event_type, event_version)
    messages: dict[str, Any] = {}
    for event_type, event_version in sorted(latest.items()):
        ref = f"#/components/schemas/{_schema_key(event_type, event_version)}"
        messages[event_type] = {
            "name": event_type,
            "title": registry.schema(event_type, event_version).get("title", event_type),
            "summary": registry.schema(event_type, event_version).get("description", ""),
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {"Nats-Msg-Id": {"type": "string"}},
            },
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {
                        "properties": {
                            "type": {"const": event_type},
                            "version": {"const": event_version},
                            "data": {"$ref": ref},
                        }
                    },
                ]
            },
        }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "A message a consumer gave up on",
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "properties": {
                "Bobaku-Dlq-Reason": {"type": "string"},
                "Bobaku-Dlq-Stream": {"type": "string"},
                "Bobaku-Dlq-Consumer": {"type": "string"},
            },
        },
        "payload": {},
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for stream in catalog:
        types = [t for t in sorted(latest) if stream.carries_type(t)]
        per_type = "{type}" in stream.address
        groups: list[tuple[str | None, list[str]]] = (
            [(t, [t]) for t in types] if per_type else [(None, types)]
        )
        for channel_type, carried in groups:
            channel_id = _channel_id(stream, channel_type)
            address = stream.address.replace("{type}", channel_type or "{type}")
            names = carried or ["DeadLetter"]
            channels[channel_id] = {
                "address": address,
                "title": f"{stream.name}: {channel_type}" if channel_type else stream.name,
                "description": f"{stream.description} Stream {stream.name}, retention "
                f"{stream.retention}.",
                "parameters": _parameters(address),
                "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
                "x-stream": stream.name,
                "x-retention": stream.retention,
            }
            operations[f"publish.{channel_id}"] = {
                "action": "send",
                "title": f"published by {', '.join(stream.producers) or 'the bus'}",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{n}"} for n in names],
            }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "BobaKu events",
            "version": version,
            "description": "Every NATS JetStream subject of the platform and the schema of "
            "each event it carries. Names are those of the default deployment (bobaku); a "
            "deployment with another DEPLOYMENT_ID prefixes them: streams <id>_<STREAM>, "
            "subjects <id>.<subject>, key-value buckets <id>_<bucket>.",
        },
        "defaultContentType": "application/json",
        "servers": {"nats": {"host": "nats:4222", "protocol": "nats", "description": "JetStream"}},
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
