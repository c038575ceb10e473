"""A bounded map that forgets its least recently used entry first: every in-process memory
of the platform (verified tokens, aggregate histories, write-once documents, the edge cache,
the outlet directory, the hub's last offsets, the notification service's records and
cards) keeps at most ``size`` entries this way. ``size <= 0`` remembers nothing."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruMap(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: K) -> V | None:
        """The entry, without counting this as a use."""
        return self._entries.get(key)

    def get(self, key: K) -> V | None:
        """The entry, now the most recently used."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def touch(self, key: K) -> None:
        self._entries.move_to_end(key)

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` as the most recently used, forgetting the least recently used
        beyond ``size``."""
        if self.size <= 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
