"""The usage ledger's sink: every finished request of an authenticated tenant, written
to the store in batches, off the request path, and not lost (SPEC 8, 8.1).

`emit` (the `UsageSink` interface) only turns the record into its stored row and
appends that to a bounded in-memory queue (USAGE_BUFFER_MAX; what a full queue
pushes out waits for the spiller in a second list of the same size, at least
MIN_OVERFLOW). A row is made as its request ends, not when its batch is taken: 500
at once held the event loop for about a millisecond, and the requests waiting on it
saw that as latency. One writer task per worker takes up to BATCH_MAX rows (a
part-filled batch waits LINGER_S for more) and writes them in one transaction
(`proxy.store.usage.UsageTable`: idempotent on `event_id`, the daily rollups
updated for the new rows only). A failing store (an outage, a call past
STORE_TIMEOUT) is retried with full-jitter backoff while the queue rides it out;
when the queue is full its oldest records spill to the Redis list `usage:spill`
(when REDIS_URL is set) or are dropped and counted. Once its writes succeed, any
worker takes spilled rows back into its batches. At shutdown the queue is written
until the grace deadline; what is left spills (or is dropped and counted).

Not recorded: requests that never authenticated (401s, another tenant's token: they
belong to no tenant and are counted in /metrics only) and static mode's.

Counters, per worker: produced, written, spilled, replayed, dropped. Over all workers,
produced = written + dropped + pending (in memory, `pending`) + the spill list's length
(exact whenever no push to the list is under way: during one, its rows are in both).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from proxy.backoff import Backoff
from proxy.errors import StoreUnavailableError
from proxy.redis_spill import RedisSpill
from proxy.store.usage import MAX_MODEL, UsageRow, UsageStore
from proxy.tasks import TaskSet
from proxy.throttled_log import RateLimitedLog
from proxy.usage_record import UsageRecord

log = logging.getLogger("proxy.accounting")
SPILL_KEY = "usage:spill"
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


@functools.lru_cache(maxsize=8)
def _utc_day(days: int) -> str:
    """YYYY-MM-DD of a day number since the epoch (a cache: one strftime per day)."""
    return time.strftime("%Y-%m-%d", time.gmtime(days * 86400))


def usage_row(record: UsageRecord) -> UsageRow:
    """The stored form of a record (tenant set); amounts in micro-USD, flags 0 or 1
    (sqlite3 binds an int as it is, where a bool costs it an adapter lookup). Made with
    `tuple.__new__`, not the NamedTuple's own `__new__` (a Python call of 23 arguments,
    once per request)."""
    attempts, status, cost_usd = record.attempts, record.status, record.cost_usd
    timestamp, model, upstream_model = record.timestamp, record.model, record.upstream_model
    cost = None if cost_usd is None else round(cost_usd * 1_000_000)
    forwarded = 1 if attempts > 0 else 0
    input_tokens, output_tokens = record.input_tokens, record.output_tokens
    return tuple.__new__(
        UsageRow,
        (
            record.event_id,
            record.tenant or "",
            _utc_day(int(timestamp // 86400)),
            round(timestamp * 1000),
            record.request_id,
            model[:MAX_MODEL] if model else "",
            None if upstream_model is None else upstream_model[:MAX_MODEL],
            record.provider,
            record.endpoint[:1024],
            status,
            record.error,
            input_tokens,
            output_tokens,
            record.cached_tokens,
            cost,
            record.duration_ms,
            record.upstream_ms,
            1 if record.stream else 0,
            1 if record.usage_estimated else 0,
            attempts,
            forwarded,
            1 if not forwarded and status >= 400 else 0,
            1
            if forwarded
            and cost is None
            and (input_tokens is not None or output_tokens is not None)
            else 0,
        ),
    )


def _encode(row: UsageRow) -> bytes:
    return orjson.dumps(row._asdict())


def _decode(item: bytes) -> UsageRow | None:
    try:
        doc = orjson.loads(item)
        return UsageRow(**{name: doc[name] for name in UsageRow._fields})
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


class UsageLedger:
    """Takes the worker's usage table, its task set and, for the spill, Redis."""

    def __init__(
        self,
        table: UsageStore,
        *,
        buffer_max: int,
        tasks: TaskSet,
        spill: RedisSpill | None = None,
        batch_max: int = BATCH_MAX,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._table = table
        self._capacity = buffer_max
        self._overflow_cap = max(buffer_max, MIN_OVERFLOW)
        self._tasks = tasks
        self._spill = spill
        self._batch_max = batch_max
        self._backoff = Backoff(BASE_BACKOFF_S, MAX_BACKOFF_S, jitter)
        self._queue: deque[UsageRow] = deque()
        self._overflow: list[UsageRow] = []  # pushed out of a full queue, to spill
        self._inflight: list[UsageRow] = []
        self._wake = asyncio.Event()
        self._spill_wake = asyncio.Event()
        self._stopping = False
        self._deadline = float("inf")
        self._store_up = True
        self._warn = RateLimitedLog(log)
        self.counters = LedgerCounters()

    @property
    def pending(self) -> int:
        """Records in this worker's memory, not written yet."""
        return len(self._queue) + len(self._overflow) + len(self._inflight)

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
        if not self._wake.is_set():
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
            batch = self._inflight = self._take()  # counted as pending while replay awaits
            if len(batch) < self._batch_max and self._store_up and not self._stopping:
                batch += await self._replay(self._batch_max - len(batch))
            if batch:
                await self._write(batch)
                if loop.time() >= self._deadline:
                    return
                continue
            if self._stopping:
                return
            self._wake.clear()
            if self._queue:
                continue
            wait = REPLAY_CHECK_S if self._spill is not None else None
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass

    def _take(self) -> list[UsageRow]:
        queue = self._queue
        if len(queue) <= self._batch_max:
            batch = list(queue)
            queue.clear()
            return batch
        popleft = queue.popleft
        return [popleft() for _ in range(self._batch_max)]

    async def _write(self, batch: list[UsageRow]) -> None:
        """Write one batch until it lands or the deadline passes (then it stays in
        flight, for close() to spill)."""
        loop = asyncio.get_running_loop()
        self._inflight = batch
        attempt = 0
        while True:
            try:
                await self._table.write(batch)
            except StoreUnavailableError as e:
                self._store_up = False
                self._warn.warning("store", "usage ledger write failed; retrying", error=str(e))
            else:
                self.counters.written += len(batch)
                self._inflight = []
                self._store_up = True
                return
            remaining = self._deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(self._backoff.delay(attempt), remaining))
            attempt += 1

    async def close(self, task: asyncio.Task[Any], grace_s: float) -> None:
        """Write for up to `grace_s`, then spill (or count as dropped) what is left."""
        self._stopping = True
        self._deadline = asyncio.get_running_loop().time() + grace_s
        self._wake.set()
        done, _ = await asyncio.wait([task], timeout=grace_s + 0.5)
        if not done:
            task.cancel()
            await asyncio.wait([task])
        rows = [*self._inflight, *self._overflow, *self._queue]
        self._inflight, self._overflow = [], []
        self._queue.clear()
        if rows and not await self._push(rows):
            self.counters.dropped += len(rows)
            log.warning("usage records unwritten at shutdown", extra={"dropped": len(rows)})
        log.info("usage ledger stopped", extra={"counters": self.counters.as_dict()})

    async def _spill_loop(self) -> None:
        """Push what a full queue pushed out; the only pusher while running."""
        while True:
            await self._spill_wake.wait()
            self._spill_wake.clear()
            taken = list(self._overflow)
            if taken and await self._push(taken):
                del self._overflow[: len(taken)]

    async def _push(self, rows: Sequence[UsageRow]) -> bool:
        if self._spill is None or await self._spill.push([_encode(r) for r in rows]) is None:
            return False
        self.counters.spilled += len(rows)
        return True

    async def _replay(self, count: int) -> list[UsageRow]:
        if self._spill is None:
            return []
        items = await self._spill.pop(count)
        if not items:
            return []
        self.counters.replayed += len(items)
        rows = [r for r in map(_decode, items) if r is not None]
        if len(rows) < len(items):
            self.counters.dropped += len(items) - len(rows)
            log.error(
                "unreadable spilled usage rows dropped", extra={"count": len(items) - len(rows)}
            )
        return rows
