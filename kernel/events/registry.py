"""Versioned JSON Schemas for event data, one file per type and version.

Layout: ``schemas/<type>/<version>.json`` (e.g. ``schemas/order.created/1.0.json``). These
files are the published contracts between services: a producer validates every event
against its schema before publishing; consumers read the envelope and tolerate unknown
fields, so adding an optional field is a minor version, anything else a major one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from bobaku.kernel.errors import EventSchemaError
from bobaku.kernel.events.envelope import Event

SCHEMA_DIR = Path(__file__).parent / "schemas"


class SchemaRegistry:
    def __init__(self) -> None:
        self._validators: dict[tuple[str, str], Draft202012Validator] = {}
        self._schemas: dict[tuple[str, str], dict[str, Any]] = {}

    def register(self, event_type: str, version: str, schema: dict[str, Any]) -> None:
        Draft202012Validator.check_schema(schema)
        key = (event_type, version)
        self._schemas[key] = schema
        self._validators[key] = Draft202012Validator(schema, format_checker=FormatChecker())

    def load_dir(self, root: Path) -> SchemaRegistry:
        for path in sorted(root.glob("*/*.json")):
            self.register(path.parent.name, path.stem, json.loads(path.read_text()))
        return self

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._validators

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(sorted(self._schemas))

    def schema(self, event_type: str, version: str) -> dict[str, Any]:
        return self._schemas[(event_type, version)]

    def validate(self, event: Event) -> None:
        """Raise :class:`EventSchemaError` naming every offending field."""
        validator = self._validators.get((event.type, event.version))
        if validator is None:
            raise EventSchemaError(
                f"no schema registered for {event.type} v{event.version}; add "
                f"schemas/{event.type}/{event.version}.json before publishing it",
                details={"type": event.type, "version": event.version},
            )
        errors = sorted(validator.iter_errors(event.data), key=lambda e: list(e.path))
        if errors:
            raise EventSchemaError(
                f"{event.type} v{event.version} data does not match its schema",
                details={
                    "fields": [
                        {
                            "field": ".".join(str(p) for p in e.path) or "(root)",
                            "problem": e.message,
                        }
                        for e in errors
                    ]
                },
            )


@lru_cache(maxsize=1)
def default_registry() -> SchemaRegistry:
    """Every schema shipped in this package."""
    return SchemaRegistry().load_dir(SCHEMA_DIR)
