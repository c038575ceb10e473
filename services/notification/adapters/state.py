"""Mutable per-key state in a NATS KV bucket: preferences, device tokens, rosters, each
notification's delivery status and read flag, and each user's inbox index.

Why KV and not MongoDB: FerretDB rewrites (and scans for) every update of an existing
document, while these keys change often; a KV get or compare-and-set by key costs the same
however much history is stored, and the compare-and-set is atomic (two replicas updating
one status never lose a write). Immutable notification records stay in MongoDB
(``adapters/records.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import (
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from bobaku.kernel.bus import EventBus

BUCKET = "notification_state"
_UNSAFE = re.compile(r"[^-_=A-Za-z0-9]")


class Versioned(NamedTuple):
    value: Any
    revision: int | None  # None: the key was never written


def part(value: str) -> str:
    """A value usable as one token of a KV key (ids are already safe; anything else is
    escaped, e.g. a franchise id with a dot)."""
    return _UNSAFE.sub(lambda m: f"={ord(m.group()):02x}", value)


class State:
    def __init__(self, bus: EventBus, bucket: str = BUCKET) -> None:
        self.bus = bus
        self.bucket = bucket
        self._kv: KeyValue | None = None

    async def start(self) -> None:
        self._kv = await self.bus.key_value(
            KeyValueConfig(bucket=self.bucket, history=1, storage=StorageType.FILE)
        )

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "State.start() was not awaited"
        return self._kv

    async def get(self, key: str) -> Any:
        try:
            entry = await self.kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        return json.loads(entry.value) if entry.value else None

    async def put(self, key: str, value: Any) -> None:
        await self.kv.put(key, json.dumps(value).encode())

    async def delete(self, key: str) -> None:
        with contextlib.suppress(KeyNotFoundError, KeyDeletedError):
            await self.kv.delete(key)

    async def create(self, key: str, value: Any) -> bool:
        """Write ``value`` only if the key holds nothing: one round trip; False if it did."""
        try:
            await self.kv.create(key, json.dumps(value).encode())
        except KeyWrongLastSequenceError:
            return False
        except Exception as exc:  # the server's "wrong last sequence" as a generic API error
            if "wrong last sequence" not in str(exc).lower():
                raise
            return False
        return True

    async def read(self, key: str) -> Versioned:
        """The value (None if absent) and its revision, for a later :meth:`change`."""
        try:
            entry = await self.kv.get(key)
        except (KeyNotFoundError, KeyDeletedError) as exc:
            return Versioned(None, getattr(getattr(exc, "entry", None), "revision", None))
        return Versioned(json.loads(entry.value) if entry.value else None, entry.revision)

    async def change(
        self, key: str, mutate: Callable[[Any], Any], known: Versioned | None = None
    ) -> Any:
        """Compare-and-set: apply ``mutate`` to the current value (None if absent) until no
        other writer got there first; returns the value written. ``known``: the value and
        revision the caller read already (one round trip fewer while nobody else wrote)."""
        for _ in range(50):
            if known is not None:
                current, revision, known = known.value, known.revision, None
            else:
                current, revision = await self.read(key)
            new = mutate(current)
            data = json.dumps(new).encode()
            try:
                if revision is None:
                    await self.kv.create(key, data)
                else:
                    await self.kv.update(key, data, last=revision)
                return new
            except KeyWrongLastSequenceError:
                await asyncio.sleep(0.005)
            except Exception as exc:  # create() of a key another writer just created
                if "wrong last sequence" not in str(exc).lower():
                    raise
                await asyncio.sleep(0.005)
        raise RuntimeError(f"too much contention on {key}")
