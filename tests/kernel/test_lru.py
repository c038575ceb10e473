"""The kernel's bounded in-process memory: least recently used out first."""

from __future__ import annotations

from bobaku.kernel.lru import LruMap


def test_the_least_recently_used_entry_goes_first_and_a_peek_is_not_a_use() -> None:
    memory: LruMap[str, int] = LruMap(2)
    memory.put("a", 1)
    memory.put("b", 2)
    assert memory.get("a") == 1  # a used: b is now the oldest
    memory.put("c", 3)
    assert (memory.peek("a"), memory.peek("b"), memory.peek("c")) == (1, None, 3)
    assert memory.peek("a") == 1  # not a use: a stays the oldest
    memory.put("d", 4)
    assert (memory.peek("a"), memory.peek("c"), memory.peek("d")) == (None, 3, 4)
    memory.touch("c")
    memory.put("e", 5)
    assert (memory.peek("c"), memory.peek("d"), len(memory)) == (3, None, 2)
    memory.forget("c")
    memory.forget("never")
    assert memory.get("c") is None
    assert len(memory) == 1


def test_a_memory_of_size_zero_remembers_nothing() -> None:
    memory: LruMap[str, int] = LruMap(0)
    memory.put("a", 1)
    assert memory.get("a") is None
    assert len(memory) == 0
