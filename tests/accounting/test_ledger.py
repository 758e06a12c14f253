"""The usage ledger's sink: batches, a store outage ridden out in memory and in Redis,
nothing lost and nothing counted twice; the counters' invariant holds throughout."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace

import orjson
import pytest

from proxy.accounting.ledger import ROW_SPILL_KEY, SPILL_KEY, UsageLedger
from proxy.accounting.usage_rows import usage_row
from proxy.errors import StoreUnavailableError
from proxy.redis_gate import RedisGate
from proxy.redis_spill import RedisSpill
from proxy.store.usage import Row, UsageRow
from proxy.tasks import TaskSet
from proxy.usage_record import UsageRecord


class FakeTable:
    """The usage table's contract in memory: batches idempotent on the batch id, rows
    from before schema version 4 (`write_rows`, kept in `legacy`) on the event id;
    `down` refuses; `lost_answers` stores that many writes but answers as a timeout
    would. A row stored twice (by two batches, or as a batch's and a legacy row) is
    counted in `twice`."""

    def __init__(self) -> None:
        self.rows: dict[str, UsageRow] = {}
        self.batches: list[str] = []  # every batch id tried, in order
        self.stored_batches: set[str] = set()
        self.legacy: dict[str, UsageRow] = {}  # usage_records_v3
        self.twice = 0
        self.down = False
        self.lost_answers = 0
        self.writes = 0
        self.changed = asyncio.Event()

    async def write(self, rows: Sequence[Row], batch_id: str) -> int:
        self.batches.append(batch_id)
        self._tried()
        if batch_id in self.stored_batches:
            return 0
        self.stored_batches.add(batch_id)
        for row in map(UsageRow._make, rows):
            self.twice += row.event_id in self.rows or row.event_id in self.legacy
            self.rows[row.event_id] = row
        self._answer()
        return len(rows)

    async def write_rows(self, rows: Sequence[Row]) -> int:
        self._tried()
        new = {r.event_id: r for r in map(UsageRow._make, rows) if r.event_id not in self.legacy}
        self.twice += sum(event_id in self.rows for event_id in new)
        self.legacy.update(new)
        self._answer()
        return len(new)

    def _tried(self) -> None:
        self.writes += 1
        self.changed.set()
        if self.down:
            raise StoreUnavailableError("the store is down")

    def _answer(self) -> None:
        if self.lost_answers:
            self.lost_answers -= 1
            raise StoreUnavailableError("the store did not answer in time")

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(10):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


async def spilled(redis_client) -> list[dict]:
    """The spill list's items, decoded."""
    return [orjson.loads(item) for item in await redis_client.lrange(SPILL_KEY, 0, -1)]


async def spilled_rows(redis_client) -> int:
    return sum(len(item["rows"]) for item in await spilled(redis_client))


def record(n: int, **fields) -> UsageRecord:
    values = {"tenant": "acme", "authenticated": True, "status": 200, "attempts": 1}
    return UsageRecord(f"evt_{n}", f"req_{n}", 1_796_000_000.0, "POST", "/v1/x", **{
        **values, **fields})  # fmt: skip


def invariant(ledgers: Sequence[UsageLedger], spilled_now: int) -> bool:
    c = [ledger.counters for ledger in ledgers]
    produced = sum(x.produced for x in c)
    accounted = sum(x.written + x.dropped for x in c) + sum(x.pending for x in ledgers)
    return produced == accounted + spilled_now


async def start(ledger: UsageLedger, tasks: TaskSet) -> asyncio.Task:
    return tasks.spawn(ledger.run(), name="ledger")


def stored(made: UsageRecord) -> UsageRow:
    """The ledger's row of a record, by field (the ledger makes a plain tuple)."""
    row = usage_row(made)
    assert type(row) is tuple and len(row) == len(UsageRow._fields)
    return UsageRow._make(row)


def test_the_stored_row_of_a_record():
    priced = stored(record(1, model="m", input_tokens=10, output_tokens=2, cost_usd=0.000123))
    assert (priced.day, priced.model, priced.cost_micro) == ("2026-11-30", "m", 123)
    assert (priced.forwarded, priced.refused, priced.unpriced) == (True, False, False)
    unpriced = stored(record(2, input_tokens=10, output_tokens=2))
    assert (unpriced.model, unpriced.cost_micro, unpriced.unpriced) == ("", None, True)
    refused = stored(record(3, status=429, attempts=0, model="x" * 300))
    assert (refused.forwarded, refused.refused, len(refused.model)) == (False, True, 255)
    listed = stored(record(4, status=200, attempts=0))  # GET /v1/models: neither
    assert not (listed.forwarded or listed.refused)
    flags = ("stream", "usage_estimated", "forwarded", "refused", "unpriced")
    for row in (priced, unpriced, refused, listed):  # ints: sqlite3 binds a bool slowly
        assert {type(getattr(row, flag)) for flag in flags} == {int}


def test_a_row_is_dated_by_the_utc_day_of_its_arrival():
    midnight = 1_796_083_200.0  # 2026-12-01T00:00:00Z
    days = [
        stored(replace(record(n), timestamp=midnight + delta)).day
        for n, delta in enumerate((-0.001, 0.0, 86_399.999, 86_400.0, -0.001, 86_399.999))
    ]
    # the last two: a request that arrived before midnight, its record made after it
    assert days == [
        "2026-11-30",
        "2026-12-01",
        "2026-12-01",
        "2026-12-02",
        "2026-11-30",
        "2026-12-01",
    ]


async def test_only_authenticated_tenants_records_are_taken():
    tasks, table = TaskSet(), FakeTable()
    ledger = UsageLedger(table, buffer_max=10, tasks=tasks)
    ledger.emit(record(1, authenticated=False, status=401))
    ledger.emit(record(2, tenant=None))
    ledger.emit(record(3))
    assert ledger.counters.produced == 1
    writer = await start(ledger, tasks)
    await table.until(lambda: "evt_3" in table.rows)
    await ledger.close(writer, 1.0)
    assert list(table.rows) == ["evt_3"] and ledger.counters.written == 1


async def test_a_queued_request_holds_its_row_not_its_record():
    """Rows are made as requests end: the record is freed with its request (and a
    batch's rows are not all made at once on the event loop), and a record changed
    after it was handed over changes nothing stored."""
    tasks, table = TaskSet(), FakeTable()
    ledger = UsageLedger(table, buffer_max=10, tasks=tasks)
    handed = record(1, input_tokens=7)
    freed = weakref.ref(handed)
    ledger.emit(handed)
    handed.input_tokens = 1_000_000
    del handed
    assert freed() is None
    writer = await start(ledger, tasks)
    await table.until(lambda: "evt_1" in table.rows)
    await ledger.close(writer, 1.0)
    assert table.rows["evt_1"].input_tokens == 7


async def test_records_are_written_in_batches():
    tasks, table = TaskSet(), FakeTable()
    ledger = UsageLedger(table, buffer_max=1000, tasks=tasks, batch_max=100)
    for n in range(250):
        ledger.emit(record(n))
    writer = await start(ledger, tasks)
    await table.until(lambda: len(table.rows) == 250)
    assert table.writes == 3
    await ledger.close(writer, 1.0)
    assert ledger.counters.as_dict() == {
        "produced": 250, "written": 250, "spilled": 0, "replayed": 0, "dropped": 0
    }  # fmt: skip


async def test_an_outage_spills_to_redis_and_every_row_arrives_once(redis_client):
    gate = RedisGate(1.0)
    spill = RedisSpill(redis_client, gate, SPILL_KEY)
    tasks, table = TaskSet(), FakeTable()
    table.down = True
    first = UsageLedger(table, buffer_max=20, tasks=tasks, spill=spill, batch_max=10)
    second = UsageLedger(table, buffer_max=20, tasks=tasks, spill=spill, batch_max=10)
    writers = [await start(first, tasks), await start(second, tasks)]
    for n in range(100):  # the first worker's traffic while the store is down
        first.emit(record(n))
    await table.until(lambda: table.writes >= 3)  # retried, not given up
    async with asyncio.timeout(5):  # once the spiller's push is done
        while not invariant([first, second], await spilled_rows(redis_client)):  # noqa: ASYNC110 (a push is seen in Redis only)
            await asyncio.sleep(0.01)
    assert first.counters.dropped == 0 and await spilled_rows(redis_client) == 80
    # As batches of at most BATCH_MAX rows, and never on the list of earlier versions.
    assert all(len(item["rows"]) <= 10 for item in await spilled(redis_client))
    assert await redis_client.llen(ROW_SPILL_KEY) == 0
    for n in range(100, 110):
        second.emit(record(n))
    table.down = False
    await table.until(lambda: len(table.rows) == 110)
    await first.close(writers[0], 1.0)
    await second.close(writers[1], 1.0)
    assert await redis_client.llen(SPILL_KEY) == 0
    c1, c2 = first.counters, second.counters
    assert c1.spilled > 0 and c1.spilled == c1.replayed + c2.replayed
    assert c1.written + c2.written == 110 and c1.dropped + c2.dropped == 0
    assert invariant([first, second], 0) and table.twice == 0


async def test_without_redis_a_full_buffer_drops_the_oldest_and_counts_them():
    tasks, table = TaskSet(), FakeTable()
    table.down = True
    ledger = UsageLedger(table, buffer_max=5, tasks=tasks)
    for n in range(12):
        ledger.emit(record(n))
    assert ledger.counters.dropped == 7 and invariant([ledger], 0)
    writer = await start(ledger, tasks)
    table.down = False
    await table.until(lambda: len(table.rows) == 5)
    await ledger.close(writer, 1.0)
    assert sorted(table.rows) == sorted(f"evt_{n}" for n in range(7, 12))


async def test_shutdown_writes_what_is_queued_and_spills_what_it_cannot(redis_client):
    spill = RedisSpill(redis_client, RedisGate(1.0), SPILL_KEY)
    tasks, table = TaskSet(), FakeTable()
    ledger = UsageLedger(table, buffer_max=100, tasks=tasks, spill=spill)
    writer = await start(ledger, tasks)
    for n in range(30):
        ledger.emit(record(n))
    await ledger.close(writer, 2.0)  # the store answers: all written before the exit
    assert len(table.rows) == 30 and ledger.counters.written == 30

    down = FakeTable()
    down.down = True
    stopping = UsageLedger(down, buffer_max=100, tasks=tasks, spill=spill)
    writer = await start(stopping, tasks)
    for n in range(30, 40):
        stopping.emit(record(n))
    await stopping.close(writer, 0.3)
    assert stopping.counters.spilled == 10
    (item,) = await spilled(redis_client)  # the batch it had tried, whole, under its id
    assert {item["batch_id"]} == set(down.batches) and len(item["rows"]) == 10
    # Any worker takes them back.
    later = UsageLedger(table, buffer_max=100, tasks=tasks, spill=spill)
    writer = await start(later, tasks)
    await table.until(lambda: len(table.rows) == 40)
    await later.close(writer, 1.0)
    assert later.counters.replayed == 10


@pytest.mark.parametrize("garbage", [b"not json", b'{"event_id": "x"}'])
async def test_an_unreadable_spilled_row_is_dropped_and_counted(redis_client, garbage):
    spill = RedisSpill(redis_client, RedisGate(1.0), SPILL_KEY)
    await redis_client.rpush(SPILL_KEY, garbage)
    tasks, table = TaskSet(), FakeTable()
    ledger = UsageLedger(table, buffer_max=10, tasks=tasks, spill=spill)
    ledger.emit(record(1))
    writer = await start(ledger, tasks)
    await table.until(lambda: ledger.counters.replayed == 1 and len(table.rows) == 1)
    await ledger.close(writer, 1.0)
    assert ledger.counters.dropped == 1


async def test_a_write_that_committed_unconfirmed_is_retried_under_its_id_once():
    """The store took the batch but its answer came too late (the store timeout): the
    retry carries the same batch id, which the store knows, so nothing counts twice."""
    tasks, table = TaskSet(), FakeTable()
    table.lost_answers = 1
    ledger = UsageLedger(table, buffer_max=100, tasks=tasks, jitter=lambda: 0.0)
    for n in range(20):
        ledger.emit(record(n))
    writer = await start(ledger, tasks)
    await table.until(lambda: len(table.batches) == 2)
    await ledger.close(writer, 1.0)
    assert table.batches[0] == table.batches[1] and len(table.rows) == 20 and table.twice == 0
    assert ledger.counters.written == 20 and invariant([ledger], 0)


async def test_a_spilled_batch_pushed_twice_is_stored_once(redis_client):
    """A push Redis took but did not confirm in time is pushed again: the batch is in
    the list twice, and its second write is known by its id."""
    spill = RedisSpill(redis_client, RedisGate(1.0), SPILL_KEY)
    down = FakeTable()
    down.down = True
    tasks = TaskSet()
    stopping = UsageLedger(down, buffer_max=100, tasks=tasks, spill=spill)
    writer = await start(stopping, tasks)
    for n in range(10):
        stopping.emit(record(n))
    await stopping.close(writer, 0.3)
    (item,) = await redis_client.lrange(SPILL_KEY, 0, -1)
    await redis_client.rpush(SPILL_KEY, item)
    table = FakeTable()
    later = UsageLedger(table, buffer_max=100, tasks=tasks, spill=spill)
    writer = await start(later, tasks)
    await table.until(lambda: len(table.batches) == 2)
    await later.close(writer, 1.0)
    assert len(table.rows) == 10 and table.twice == 0 and len(table.stored_batches) == 1
    assert await redis_client.llen(SPILL_KEY) == 0 and later.counters.replayed == 20


async def test_rows_spilled_one_by_one_before_version_4_are_written_once_each(redis_client):
    """Workers from before schema version 4 spilled rows one by one to `usage:spill`,
    one of them twice (a push Redis took but did not confirm), two of them already in
    the store (a batch that committed unconfirmed, then spilled): each row is stored
    once, where that version stored it, and nothing lands in the batches."""
    old_rows = [stored(record(n)) for n in range(5)]
    await redis_client.rpush(
        ROW_SPILL_KEY, *(orjson.dumps(r._asdict()) for r in [*old_rows, old_rows[3]])
    )
    tasks, table = TaskSet(), FakeTable()
    table.legacy = {row.event_id: row for row in old_rows[:2]}
    gate = RedisGate(1.0)
    spill, row_spill = (RedisSpill(redis_client, gate, key) for key in (SPILL_KEY, ROW_SPILL_KEY))
    ledger = UsageLedger(table, buffer_max=100, tasks=tasks, spill=spill, row_spill=row_spill)
    writer = await start(ledger, tasks)
    await table.until(lambda: len(table.legacy) == 5)
    await ledger.close(writer, 1.0)
    assert sorted(table.legacy) == [f"evt_{n}" for n in range(5)]
    assert table.rows == {} and table.twice == 0 and await redis_client.llen(ROW_SPILL_KEY) == 0
    assert ledger.counters.replayed == 6


async def test_rows_from_before_version_4_spill_again_as_such(redis_client):
    """Such rows the store could not take before shutdown spill as one batch that says
    so: written later, they are still checked row by row."""
    old_rows = [stored(record(n)) for n in range(3)]
    await redis_client.rpush(ROW_SPILL_KEY, *(orjson.dumps(r._asdict()) for r in old_rows))
    gate = RedisGate(1.0)
    spill, row_spill = (RedisSpill(redis_client, gate, key) for key in (SPILL_KEY, ROW_SPILL_KEY))
    tasks, down = TaskSet(), FakeTable()
    down.down = True
    stopping = UsageLedger(down, buffer_max=100, tasks=tasks, spill=spill, row_spill=row_spill)
    writer = await start(stopping, tasks)
    await down.until(lambda: down.writes >= 1)
    await stopping.close(writer, 0.2)
    (item,) = await spilled(redis_client)
    assert item["legacy"] is True and len(item["rows"]) == 3
    table = FakeTable()
    table.legacy = {old_rows[0].event_id: old_rows[0]}  # it had been stored, unconfirmed
    later = UsageLedger(table, buffer_max=100, tasks=tasks, spill=spill, row_spill=row_spill)
    writer = await start(later, tasks)
    await table.until(lambda: len(table.legacy) == 3)
    await later.close(writer, 1.0)
    assert table.rows == {} and table.twice == 0 and await redis_client.llen(SPILL_KEY) == 0
