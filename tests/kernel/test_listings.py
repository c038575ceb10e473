"""Keyed read models in Redis: versioned documents, the lists that page them, tallies."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from bobaku.kernel.listings import Listings, ReadModelGuard, Tallies, WriteOnceDocuments


def listings(redis: Any) -> Listings:
    return Listings(redis, f"test-{secrets.token_hex(4)}:orders")


async def test_an_item_moves_between_lists_when_its_state_changes(redis: Any) -> None:
    model = listings(redis)
    await model.put("o1", {"status": "pending"}, version=1, lists={"all": 10, "s:pending": 10})
    await model.put("o1", {"status": "paid"}, version=2, lists={"all": 10, "s:paid": 10})
    assert await model.count("s:pending") == 0
    assert [e.doc for e in await model.page("s:paid", start=0, count=5)] == [{"status": "paid"}]
    assert await model.get("o1") == {"status": "paid"}
    assert await model.version("o1") == 2


async def test_an_older_or_repeated_version_changes_nothing(redis: Any) -> None:
    model = listings(redis)
    assert await model.put("o1", {"n": 3}, version=3, lists={"s:ready": 1})
    assert not await model.put("o1", {"n": 2}, version=2, lists={"s:pending": 1})
    assert not await model.put("o1", {"n": 3}, version=3, lists={"s:other": 1})
    assert await model.get("o1") == {"n": 3}
    assert await model.count("s:pending") == 0
    assert await model.count("s:other") == 0
    assert await model.count("s:ready") == 1


async def test_concurrent_writes_of_many_versions_keep_the_newest(redis: Any) -> None:
    model = listings(redis)
    versions = list(range(1, 41))
    secrets.SystemRandom().shuffle(versions)
    await asyncio.gather(
        *(model.put("o1", {"v": v}, version=v, lists={f"s:{v % 3}": v}) for v in versions)
    )
    assert await model.get("o1") == {"v": 40}
    assert [await model.count(f"s:{k}") for k in range(3)] == [0, 1, 0]


async def test_offset_pages_are_newest_first_and_ties_are_stable(redis: Any) -> None:
    model = listings(redis)
    for i in range(7):
        await model.put(f"o{i}", {"i": i}, version=1, lists={"all": 100 + (i // 2)})
    first = await model.page("all", start=0, count=3)
    second = await model.page("all", start=3, count=3)
    ids = [e.id for e in first + second + await model.page("all", start=6, count=3)]
    assert ids == ["o6", "o5", "o4", "o3", "o2", "o1", "o0"]
    assert [e.score for e in first] == [103.0, 102.0, 102.0]
    assert [e.id for e in await model.page("all", start=0, count=2, newest_first=False)] == [
        "o0",
        "o1",
    ]


async def test_keyset_pages_do_not_repeat_or_skip_when_items_arrive_in_front(redis: Any) -> None:
    model = listings(redis)
    for i in range(6):
        await model.put(f"p{i}", {"i": i}, lists={"all": 1733000000.123456 + (i // 3)})
    first = await model.after("all", None, count=4)
    await model.put("p9", {"i": 9}, lists={"all": 1733000009.5})  # newer: before page one
    last = first[-1]
    rest = await model.after("all", (last.score, last.id), count=4)
    assert [e.id for e in first] == ["p5", "p4", "p3", "p2"]
    assert [e.id for e in rest] == ["p1", "p0"]


async def test_merged_pages_interleave_lists_by_score(redis: Any) -> None:
    model = listings(redis)
    for i in range(6):
        await model.put(f"x{i}", {"i": i}, lists={f"outlet:{i % 2}": float(i)})
    page = await model.merged_after(["outlet:0", "outlet:1"], None, count=4)
    assert [e.id for e in page] == ["x5", "x4", "x3", "x2"]
    after = await model.merged_after(["outlet:0", "outlet:1"], (2.0, "x2"), count=4)
    assert [e.id for e in after] == ["x1", "x0"]


async def test_due_entries_come_lowest_score_first_and_removal_forgets_them(redis: Any) -> None:
    model = listings(redis)
    for key, due in (("late", 50.0), ("soon", 10.0), ("now", 20.0)):
        await model.put(key, {"key": key}, lists={"due": due})
    assert [e.id for e in await model.upto("due", 20.0, count=10)] == ["soon", "now"]
    await model.remove("soon")
    assert await model.get("soon") is None
    assert [e.id for e in await model.upto("due", 100.0, count=10)] == ["now", "late"]


async def test_due_entries_of_many_lists_come_in_one_read_lowest_score_first(
    redis: Any,
) -> None:
    model = listings(redis)
    for queue, due in (("q1", [5, 1]), ("q2", [3]), ("q3", [9]), ("q4", [])):
        for n, score in enumerate(due):
            await model.put(f"{queue}-{n}", {"q": queue}, lists={queue: score})

    found = await model.upto_many(["q1", "q2", "q3", "q4", "nothing"], 5, count=10)
    assert [(e.id, e.score) for e in found] == [("q1-1", 1), ("q2-0", 3), ("q1-0", 5)]
    first_two = await model.upto_many(["q3", "q2", "q1"], 100, count=2)
    assert [e.id for e in first_two] == ["q1-1", "q2-0"]
    assert await model.upto_many([], 100, count=5) == []


async def test_a_tally_counts_each_event_once_and_lists_its_group(redis: Any) -> None:
    tallies = Tallies(redis, f"test-{secrets.token_hex(4)}:settlement")
    assert await tallies.add("d1|o1", "e1", {"captured": 500, "count": 1}, group="d1")
    assert not await tallies.add("d1|o1", "e1", {"captured": 500, "count": 1}, group="d1")
    await asyncio.gather(
        *(tallies.add("d1|o2", f"e{i}", {"captured": 10}, group="d1") for i in range(20))
    )
    assert await tallies.get("d1|o1") == {"captured": 500, "count": 1}
    assert await tallies.get("d1|o2") == {"captured": 200}
    assert await tallies.group("d1") == ["d1|o1", "d1|o2"]
    assert await tallies.get("d1|none") == {}


async def test_write_once_documents_keep_the_first_and_read_through_redis(
    redis: Any, databases: Any
) -> None:
    namespace = f"test-{secrets.token_hex(4)}:directory"
    collection = databases.platform[f"directory_{secrets.token_hex(3)}"]
    docs = WriteOnceDocuments(redis, namespace, collection)
    assert await docs.insert({"_id": "ord-1", "franchise_id": "fr-jakarta"})
    assert not await docs.insert({"_id": "ord-1", "franchise_id": "fr-bandung"})
    assert await docs.get("ord-1") == {"_id": "ord-1", "franchise_id": "fr-jakarta"}
    assert await collection.count_documents({}) == 1
    # Another replica (nothing remembered): Redis lost its copy, so the read falls back to
    # MongoDB and puts it back.
    replica = WriteOnceDocuments(redis, namespace, collection)
    await redis.delete(f"{namespace}:d:ord-1")
    assert await replica.get("ord-1") == {"_id": "ord-1", "franchise_id": "fr-jakarta"}
    assert await redis.exists(f"{namespace}:d:ord-1")
    assert await docs.get("ord-2") is None


async def test_write_once_documents_are_remembered_by_the_process_that_wrote_or_read_them(
    redis: Any, databases: Any
) -> None:
    """A document never changes after its insert, so a process answers a second read of
    it from memory: here the stored copies are removed to show no round trip was made."""
    namespace = f"test-{secrets.token_hex(4)}:intents"
    collection = databases.platform[f"intents_{secrets.token_hex(3)}"]
    writer = WriteOnceDocuments(redis, namespace, collection, remember=2)
    reader = WriteOnceDocuments(redis, namespace, collection, remember=2)
    assert await reader.get("pi-1") is None  # a miss is not remembered
    for n in (1, 2, 3):
        assert await writer.insert({"_id": f"pi-{n}", "order_id": f"ord-{n}"})
    assert await reader.get("pi-1") == {"_id": "pi-1", "order_id": "ord-1"}  # inserted since
    assert await reader.get("pi-3") == {"_id": "pi-3", "order_id": "ord-3"}
    await collection.delete_many({})
    async for key in redis.scan_iter(f"{namespace}:*"):
        await redis.delete(key)
    # The writer keeps the last two it inserted; the reader the two it read.
    assert await writer.get("pi-3") == {"_id": "pi-3", "order_id": "ord-3"}
    assert await writer.get("pi-2") == {"_id": "pi-2", "order_id": "ord-2"}
    assert await writer.get("pi-1") is None  # fell out: read from the (emptied) stores
    assert await reader.get("pi-1") == {"_id": "pi-1", "order_id": "ord-1"}
    assert await reader.get("pi-2") is None
    # What a caller does to its answer does not change what is remembered.
    answer = await reader.get("pi-3")
    assert answer is not None
    answer["order_id"] = "changed"
    assert await reader.get("pi-3") == {"_id": "pi-3", "order_id": "ord-3"}


async def test_a_read_model_redis_lost_is_rebuilt_from_its_source(redis: Any) -> None:
    model = listings(redis)
    source = {"o1": 3, "o2": 5}  # what the stream says: item -> version

    async def rebuild() -> int:
        done = 0
        for item, version in source.items():
            done += await model.put(item, {"id": item}, lists={"all": version}, version=version)
        return done

    guard = ReadModelGuard(redis, model.namespace, rebuild)
    for item, version in source.items():
        await model.put(item, {"id": item}, lists={"all": version}, version=version)
    await guard.start()
    await guard.check()
    assert guard.rebuilds == 0  # whole: nothing replayed
    # Redis loses the model (a FLUSHALL, here only this namespace's keys).
    async for key in redis.scan_iter(f"{model.namespace}:*"):
        await redis.delete(key)
    assert await model.page("all", start=0, count=10) == []
    await guard.check()
    assert guard.rebuilds == 1
    assert sorted(e.doc["id"] for e in await model.page("all", start=0, count=10)) == ["o1", "o2"]
    await guard.check()
    assert guard.rebuilds == 1
