"""The usage ledger's sink: every finished request of an authenticated tenant, written
to the store in batches, off the request path, and not lost (SPEC 8, 8.1).

`emit` (the `UsageSink` interface) only turns the record into its stored row and
appends that to a bounded in-memory queue (USAGE_BUFFER_MAX; what a full queue
pushes out waits for the spiller in a second list of the same size, at least
MIN_OVERFLOW). A row is made as its request ends, not when its batch is taken: 500
at once held the event loop for about a millisecond, and the requests waiting on it
saw that as latency. One writer task per worker takes up to BATCH_MAX rows (a
part-filled batch waits LINGER_S for more) and writes them in one transaction
(`proxy.store.usage.UsageTable`: one row of `usage_batches`, idempotent on the
batch's id, the daily rollups updated only when it was new). A batch keeps its id
from the moment it is formed: once it may have been stored, it only ever travels
whole (retried, spilled and replayed as one item), so no row is ever stored twice.
A failing store (an outage, a call past STORE_TIMEOUT) is retried with full-jitter
backoff while the queue rides it out; when the queue is full its oldest records
spill, as batches of up to BATCH_MAX rows, to the Redis list `usage:spill:batches`
(when REDIS_URL is set) or are dropped and counted. Once its writes succeed, any
worker takes spilled batches back and writes each as itself. At shutdown the queue is
written until the grace deadline; what is left spills (or is dropped and counted).
Workers from before schema version 4 spilled rows one by one to `usage:spill`, a list
they also read (and would drop a batch item from as unreadable, hence the new key):
those rows are taken back too and written as that version wrote them (`Batch.legacy`).

Not recorded: requests that never authenticated (401s, another tenant's token: they
belong to no tenant and are counted in /metrics only) and static mode's.

Counters, per worker, in rows: produced, written, spilled, replayed, dropped. Over all
workers, produced = written + dropped + pending (in memory, `pending`) + the rows in
the spill list (exact whenever no push to the list is under way: during one, its rows
are in both).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from proxy.accounting.usage_rows import Batch, decode_item, encode_batch, usage_row
from proxy.backoff import Backoff
from proxy.errors import StoreUnavailableError
from proxy.redis_spill import RedisSpill
from proxy.store.usage import Row, UsageStore, new_batch_id
from proxy.tasks import TaskSet
from proxy.throttled_log import RateLimitedLog
from proxy.usage_record import UsageRecord

log = logging.getLogger("proxy.accounting")
SPILL_KEY = "usage:spill:batches"  # one item per batch (schema version 4)
ROW_SPILL_KEY = "usage:spill"  # one item per row: spilled by workers before version 4
REPLAY_BATCHES = 8  # spilled batches taken back at a time, each of up to BATCH_MAX rows
BATCH_MAX = 500  # rows per insert
LINGER_S = 0.1  # how long a part-filled batch waits for more
REPLAY_CHECK_S = 1.0  # how often an idle writer looks at the spill list
BASE_BACKOFF_S = 0.05
MAX_BACKOFF_S = 2.0
MIN_OVERFLOW = 1000  # records pushed out of a full queue that may wait for the spiller


class LedgerCounters:
    __slots__ = ("produced", "written", "spilled", "replayed", "dropped")

    def __init__(self) -> None:
        self.produced = self.written = self.spilled = self.replayed = self.dropped = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class UsageLedger:
    """Takes the worker's usage table, its task set and, for the spill, Redis."""

    def __init__(
        self,
        table: UsageStore,
        *,
        buffer_max: int,
        tasks: TaskSet,
        spill: RedisSpill | None = None,
        row_spill: RedisSpill | None = None,
        batch_max: int = BATCH_MAX,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._table = table
        self._capacity = buffer_max
        self._overflow_cap = max(buffer_max, MIN_OVERFLOW)
        self._tasks = tasks
        self._spill = spill  # batches, SPILL_KEY
        self._row_spill = row_spill  # rows from before schema version 4, ROW_SPILL_KEY
        self._batch_max = batch_max
        self._backoff = Backoff(BASE_BACKOFF_S, MAX_BACKOFF_S, jitter)
        self._queue: deque[Row] = deque()
        self._overflow: list[Row] = []  # pushed out of a full queue, to spill
        self._spilling: list[Batch] = []  # the spiller's push, retried as it is
        self._inflight: list[Batch] = []  # formed, not known to be stored
        self._wake = asyncio.Event()
        self._idle = False  # the writer waits on _wake: the next emit sets it
        self._spill_wake = asyncio.Event()
        self._stopping = False
        self._deadline = float("inf")
        self._store_up = True
        self._warn = RateLimitedLog(log)
        self.counters = LedgerCounters()

    @property
    def pending(self) -> int:
        """Records in this worker's memory, not written yet."""
        inflight = sum(len(batch.rows) for batch in self._inflight)
        spilling = sum(len(batch.rows) for batch in self._spilling)
        return len(self._queue) + len(self._overflow) + spilling + inflight

    def emit(self, record: UsageRecord) -> None:
        if record.tenant is None or not record.authenticated:
            return
        queue = self._queue
        if len(queue) >= self._capacity:
            oldest = queue.popleft()
            if self._spill is not None and len(self._overflow) < self._overflow_cap:
                self._overflow.append(oldest)
                self._spill_wake.set()
            else:
                self.counters.dropped += 1
                self._warn.warning(
                    "overflow",
                    "usage buffer full and nowhere to spill: dropping the oldest records "
                    "(set REDIS_URL, or raise USAGE_BUFFER_MAX)",
                    buffer_max=self._capacity,
                )
        queue.append(usage_row(record))
        self.counters.produced += 1
        if self._idle:  # an attribute, not Event.is_set(): a Python call per request
            self._idle = False
            self._wake.set()

    async def run(self) -> None:
        """Write until stopped and drained (or past the deadline)."""
        spiller = None
        if self._spill is not None:
            spiller = self._tasks.spawn(self._spill_loop(), name="usage-spill")
        try:
            await self._write_loop()
        finally:
            if spiller is not None:
                spiller.cancel()
                await asyncio.wait([spiller])

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if 0 < len(self._queue) < self._batch_max and not self._stopping:
                await asyncio.sleep(LINGER_S)  # fewer, fuller inserts under load
            batch = Batch(new_batch_id(), self._take())
            self._inflight = [batch]  # counted as pending while replay awaits
            if len(batch.rows) < self._batch_max and self._store_up and not self._stopping:
                await self._replay()
            taken = [b for b in self._inflight if b.rows]
            if taken:
                for each in taken:
                    if not await self._write(each) or loop.time() >= self._deadline:
                        return
                continue
            self._inflight = []
            if self._stopping:
                return
            self._wake.clear()
            if self._queue:
                continue
            wait = REPLAY_CHECK_S if self._spill is not None else None
            self._idle = True
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass
            self._idle = False

    def _take(self) -> list[Row]:
        queue = self._queue
        if len(queue) <= self._batch_max:
            batch = list(queue)
            queue.clear()
            return batch
        popleft = queue.popleft
        return [popleft() for _ in range(self._batch_max)]

    async def _write(self, batch: Batch) -> bool:
        """Write one batch until it lands (True) or the deadline passes (False: it
        stays in flight, for close() to spill)."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                if batch.legacy:
                    await self._table.write_rows(batch.rows)
                else:
                    await self._table.write(batch.rows, batch.batch_id)
            except StoreUnavailableError as e:
                self._store_up = False
                self._warn.warning("store", "usage ledger write failed; retrying", error=str(e))
            else:
                self.counters.written += len(batch.rows)
                self._inflight = [b for b in self._inflight if b is not batch]
                self._store_up = True
                return True
            remaining = self._deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(self._backoff.delay(attempt), remaining))
            attempt += 1

    def _split(self, rows: list[Row]) -> list[Batch]:
        """Rows never tried yet as batches of up to BATCH_MAX rows, each with a new id."""
        size = self._batch_max
        return [Batch(new_batch_id(), rows[i : i + size]) for i in range(0, len(rows), size)]

    async def close(self, task: asyncio.Task[Any], grace_s: float) -> None:
        """Write for up to `grace_s`, then spill (or count as dropped) what is left."""
        self._stopping = True
        self._deadline = asyncio.get_running_loop().time() + grace_s
        self._wake.set()
        done, _ = await asyncio.wait([task], timeout=grace_s + 0.5)
        if not done:
            task.cancel()
            await asyncio.wait([task])
        batches = [*self._inflight, *self._spilling, *self._split([*self._overflow, *self._queue])]
        self._inflight, self._overflow, self._spilling = [], [], []
        self._queue.clear()
        batches = [b for b in batches if b.rows]
        count = sum(len(b.rows) for b in batches)
        if batches and not await self._push(batches):
            self.counters.dropped += count
            log.warning("usage records unwritten at shutdown", extra={"dropped": count})
        log.info("usage ledger stopped", extra={"counters": self.counters.as_dict()})

    async def _spill_loop(self) -> None:
        """Push what a full queue pushed out; the only pusher while running."""
        while True:
            await self._spill_wake.wait()
            self._spill_wake.clear()
            if not self._spilling and self._overflow:
                self._spilling = self._split(self._overflow)
                self._overflow = []
            if self._spilling and await self._push(self._spilling):
                self._spilling = []
                if self._overflow:
                    self._spill_wake.set()

    async def _push(self, batches: Sequence[Batch]) -> bool:
        """Spill whole batches, each one item under its id: a push that Redis took but
        did not confirm in time is pushed again, and replayed twice its rows still
        count once (the store knows the id)."""
        if self._spill is None or await self._spill.push(list(map(encode_batch, batches))) is None:
            return False
        self.counters.spilled += sum(len(b.rows) for b in batches)
        return True

    async def _replay(self) -> None:
        """Up to REPLAY_BATCHES spilled batches, each to be written as itself, under its
        id, and up to BATCH_MAX rows spilled one by one (by a worker from before schema
        version 4) as one `legacy` batch."""
        if self._spill is not None and (items := await self._spill.pop(REPLAY_BATCHES)):
            self._take_back(items)
        if self._row_spill is not None and (items := await self._row_spill.pop(self._batch_max)):
            self._take_back(items)

    def _take_back(self, items: list[bytes]) -> None:
        legacy = Batch(new_batch_id(), [], legacy=True)
        unreadable = 0
        for found in map(decode_item, items):
            if found is None:
                unreadable += 1
            elif isinstance(found, Batch):
                self._inflight.append(found)
                self.counters.replayed += len(found.rows)
            else:
                legacy.rows.append(found)
                self.counters.replayed += 1
        if legacy.rows:
            self._inflight.append(legacy)
        if unreadable:
            self.counters.replayed += unreadable
            self.counters.dropped += unreadable
            log.error("unreadable spilled usage items dropped", extra={"count": unreadable})
