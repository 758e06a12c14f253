"""The telemetry webhook sink: events out, never in a request's way, not lost.

Producers (the request path, the config resolver, start/stop) only append to a
bounded in-memory queue. One sender task per worker serialises, batches
(TELEMETRY_BATCH_MAX; a part-filled batch waits BATCH_LINGER_S for more), signs
(X-Telemetry-Signature) and POSTs through the control-plane session with
TELEMETRY_TIMEOUT per attempt. Timeouts, refused connections, 5xx, 408 and 429 are
retried with exponential backoff and full jitter; other 4xx are final (counted as
dropped).

When the queue is full its oldest events spill to the Redis list `telemetry:spill`
(when REDIS_URL is set; a spiller task pushes them while the sender waits out an
outage; the list keeps the newest TELEMETRY_SPILL_MAX) or are dropped and counted.
Any worker re-sends spilled events once its receiver answers again. At shutdown the
queue is flushed until the grace deadline; what is left spills (or is dropped and
counted).

Counters, per worker: produced, delivered, retried, spilled, replayed, dropped (a
worker that trims the spill list counts what it trimmed). Over all workers: produced
= delivered + dropped + queued + in the spill list.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import aiohttp
from redis.asyncio import Redis

from proxy.backoff import Backoff
from proxy.event_types import CONFIG_CACHE_HIT
from proxy.ids import IdGenerator
from proxy.redis_gate import RedisGate
from proxy.redis_spill import RedisSpill
from proxy.settings import TelemetrySettings
from proxy.tasks import TaskSet
from proxy.telemetry import events
from proxy.throttled_log import RateLimitedLog
from proxy.usage_record import UsageRecord

log = logging.getLogger("proxy.telemetry")
SPILL_KEY = "telemetry:spill"
MIN_OVERFLOW = 1000  # events pushed out of a full queue that may wait for the spiller
BASE_BACKOFF_S = 0.1
REPLAY_CHECK_S = 1.0
BATCH_LINGER_S = 0.05  # with TELEMETRY_BATCH_MAX > 1: how long a part-filled batch waits
_OK, _RETRY, _REJECT = 0, 1, 2
_RETRY_STATUSES = frozenset({408, 429})


# A finished request, or (event_type, event_id, timestamp, fields): encoded when sent.
_Queued = UsageRecord | tuple[str, str, float, dict[str, Any]]


class Counters:
    __slots__ = ("produced", "delivered", "retried", "spilled", "replayed", "dropped")

    def __init__(self) -> None:
        self.produced = self.delivered = self.retried = 0
        self.spilled = self.replayed = self.dropped = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class WebhookSink:
    """Takes its settings section, plus the worker's resources: the control-plane
    session, ids, the task set, and Redis with its gate (for the spill) when set."""

    def __init__(
        self,
        settings: TelemetrySettings,
        *,
        mode: str,
        session: aiohttp.ClientSession,
        ids: IdGenerator,
        tasks: TaskSet,
        redis: Redis | None = None,
        gate: RedisGate | None = None,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if settings.url is None:
            raise ValueError("a WebhookSink needs TELEMETRY_WEBHOOK_URL")
        self._session = session
        self._url = settings.url
        self._mode = mode
        self._ids = ids
        self._tasks = tasks
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout)
        self._batch_max = settings.batch_max
        self._secret = settings.secret.encode() if settings.secret else None
        self._capacity = settings.queue_size
        self._overflow_cap = max(settings.queue_size, MIN_OVERFLOW)
        self._backoff = Backoff(BASE_BACKOFF_S, settings.max_backoff, jitter)
        self._spill_max = settings.spill_max
        self._config_hits = settings.config_hits
        self._redis = redis if gate is not None else None
        self._spill_list = (
            RedisSpill(redis, gate, SPILL_KEY) if redis is not None and gate is not None else None
        )
        self._clock = clock
        self._queue: deque[_Queued] = deque()
        self._overflow: list[bytes] = []  # pushed out of a full queue, waiting to spill
        self._inflight: list[bytes] = []
        self._wake = asyncio.Event()
        self._spill_wake = asyncio.Event()
        self._stopping = False
        self._deadline = float("inf")  # loop.time() by which a stopping sender gives up
        self._receiver_up = True
        self._warn = RateLimitedLog(log)
        self.counters = Counters()

    @property
    def queued(self) -> int:
        return len(self._queue) + len(self._overflow) + len(self._inflight)

    # -- producers: synchronous, never block, never raise -----------------------------

    def emit(self, record: UsageRecord) -> None:
        """A finished request (the UsageSink interface); serialised later, by the sender."""
        self._push(record)

    def event(self, event_type: str, fields: dict[str, Any]) -> None:
        self._push((event_type, self._ids.event_id(), self._clock(), fields))

    def config_event(self, event_type: str, user_id: str, **fields: Any) -> None:
        if event_type == CONFIG_CACHE_HIT and not self._config_hits:
            return
        self.event(event_type, {"user_id": user_id, **fields})

    def _push(self, item: _Queued) -> None:
        queue = self._queue
        if len(queue) >= self._capacity:
            oldest = queue.popleft()
            if self._redis is not None and len(self._overflow) < self._overflow_cap:
                self._overflow.append(self._serialise(oldest))
                self._spill_wake.set()
            else:
                self.counters.dropped += 1
                self._warn.warning(
                    "overflow",
                    "telemetry queue full: dropping the oldest events (set REDIS_URL to spill "
                    "them, or raise TELEMETRY_BATCH_MAX so the sender keeps up)",
                    queue_size=self._capacity,
                )
        queue.append(item)
        self.counters.produced += 1
        if not self._wake.is_set():
            self._wake.set()

    def _serialise(self, item: _Queued) -> bytes:
        """Events are encoded here, in the sender, never on the request path."""
        if isinstance(item, UsageRecord):
            return events.request_event(item, self._mode)
        event_type, event_id, timestamp, fields = item
        return events.plain_event(event_type, event_id, timestamp, self._mode, fields)

    # -- the sender -------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver until stopped and drained (or past the deadline)."""
        spiller = None
        if self._redis is not None:
            spiller = self._tasks.spawn(self._spill_loop(), name="telemetry-spill")
        try:
            await self._send_loop()
        finally:
            if spiller is not None:
                spiller.cancel()
                await asyncio.wait([spiller])

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if 0 < len(self._queue) < self._batch_max and not self._stopping:
                await asyncio.sleep(BATCH_LINGER_S)  # fewer, fuller POSTs under load
            batch = self._take()
            if not batch and self._receiver_up and not self._stopping:
                batch = await self._replay()
            if not batch:
                if self._stopping or loop.time() >= self._deadline:
                    return
                self._wake.clear()
                if self._queue:
                    continue
                wait = REPLAY_CHECK_S if self._redis is not None else None
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
                continue
            await self._deliver(batch)
            if loop.time() >= self._deadline:
                return

    async def close(self, task: asyncio.Task[Any], grace_s: float) -> None:
        """Flush for up to `grace_s`, then spill (or count as dropped) what is left."""
        loop = asyncio.get_running_loop()
        self._stopping = True
        self._deadline = loop.time() + grace_s
        self._wake.set()
        done, _ = await asyncio.wait([task], timeout=grace_s + 0.5)
        if not done:
            task.cancel()
            await asyncio.wait([task])
        leftovers = self._inflight + self._overflow + [self._serialise(i) for i in self._queue]
        self._inflight, self._overflow = [], []
        self._queue.clear()
        if leftovers:
            await self._spill_or_drop(leftovers)
        log.info("telemetry stopped", extra={"counters": self.counters.as_dict()})

    def _take(self) -> list[bytes]:
        batch: list[bytes] = []
        queue = self._queue
        while queue and len(batch) < self._batch_max:
            batch.append(self._serialise(queue.popleft()))
        return batch

    async def _deliver(self, batch: list[bytes]) -> None:
        """POST one batch until it is delivered, rejected, or the deadline passes (then
        it stays in flight, for close() to spill)."""
        loop = asyncio.get_running_loop()
        self._inflight = batch
        body = batch[0] if self._batch_max == 1 else b"[" + b",".join(batch) + b"]"
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            digest = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
            headers["X-Telemetry-Signature"] = "sha256=" + digest
        attempt = 0
        while True:
            outcome = await self._post(body, headers)
            if outcome != _RETRY:
                if outcome == _OK:
                    self.counters.delivered += len(batch)
                    self._receiver_up = True
                else:
                    self.counters.dropped += len(batch)
                self._inflight = []
                return
            self._receiver_up = False
            self.counters.retried += len(batch)
            remaining = self._deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(self._backoff.delay(attempt), remaining))
            attempt += 1

    async def _post(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as resp:
                await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as e:
            self._warn.warning("transport", "telemetry webhook unreachable", error=repr(e))
            return _RETRY
        if 200 <= status < 300:
            return _OK
        if status >= 500 or status in _RETRY_STATUSES:
            self._warn.warning("status", "telemetry webhook failed; retrying", status=status)
            return _RETRY
        self._warn.warning("rejected", "telemetry webhook rejected events", status=status)
        return _REJECT

    # -- Redis spill --------------------------------------------------------------------

    async def _spill_loop(self) -> None:
        """Push what a full queue pushed out; the only writer of the spill list while
        running, so nothing is pushed twice."""
        while True:
            await self._spill_wake.wait()
            self._spill_wake.clear()
            items = list(self._overflow)
            if items and await self._spill(items):
                del self._overflow[: len(items)]

    async def _spill_or_drop(self, items: list[bytes]) -> None:
        if not await self._spill(items):
            self.counters.dropped += len(items)
            log.warning("telemetry events undelivered at shutdown", extra={"dropped": len(items)})

    async def _spill(self, items: list[bytes]) -> bool:
        if self._spill_list is None:
            return False
        cap = self._spill_max
        # The list is bounded: Redis holds configs too.
        length = await self._spill_list.push(items, keep=cap)
        if length is None:
            return False
        self.counters.spilled += len(items)
        if length > cap:
            self.counters.dropped += length - cap
            self._warn.warning(
                "spill-full",
                "telemetry spill list full: dropping its oldest events",
                spill_max=cap,
            )
        return True

    async def _replay(self) -> list[bytes]:
        if self._spill_list is None:
            return []
        items = await self._spill_list.pop(self._batch_max) or []
        self.counters.replayed += len(items)
        return items
