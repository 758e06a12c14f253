"""Each worker's subscription to `config-invalidate`, kept alive.

A message names a user whose L1 entry must go. The connection is checked with a
PING whenever it is quiet; a lost subscription is reported (the resolver then
refreshes L1 entries after CONFIG_DEGRADED_TTL) and re-established with backoff. On
a Redis Cluster the subscription is one connection to one node (every node hears
every PUBLISH); each new try goes to the next node, so a failed node is left behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from proxy.backoff import Backoff
from proxy.cache.configs import CHANNEL
from proxy.cache.redis_client import open_pubsub
from proxy.redis_gate import REDIS_FAILURES, RedisClient, RedisGate

log = logging.getLogger("proxy.cache")
RESUBSCRIBE_BASE_S = 0.1


class InvalidationSubscriber:
    def __init__(
        self,
        redis: RedisClient,
        gate: RedisGate,
        *,
        on_invalidate: Callable[[str], None],
        on_state: Callable[[bool], None],
        timeout: float,
        ping_interval: float = 1.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._redis = redis
        self._gate = gate
        self._on_invalidate = on_invalidate
        self._on_state = on_state
        self._timeout = timeout
        self._ping_interval = ping_interval
        # The ceilings only, no jitter: the schedule this loop has always had.
        self._backoff = Backoff(RESUBSCRIBE_BASE_S, max_backoff)
        self.subscribed = False

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen(failures)
            except REDIS_FAILURES as e:
                _raise_if_cancelling()
                self._gate.failed("config-invalidate subscription", e)
            self._set(False)
            await asyncio.sleep(self._backoff.ceiling(failures))
            failures += 1

    async def _listen(self, attempt: int) -> None:
        async with asyncio.timeout(self._timeout):
            pubsub = await open_pubsub(self._redis, attempt)
        try:
            async with asyncio.timeout(self._timeout):
                await pubsub.subscribe(CHANNEL)
            loop = asyncio.get_running_loop()
            last_heard = loop.time()
            pinged = False
            while True:
                _raise_if_cancelling()
                message = await pubsub.get_message(timeout=self._ping_interval)
                if message is not None:
                    last_heard, pinged = loop.time(), False
                    kind = message.get("type")
                    if kind == "subscribe":
                        self._set(True)
                    elif kind == "message":
                        data = message.get("data")
                        self._on_invalidate(data.decode() if isinstance(data, bytes) else str(data))
                    continue
                if pinged and loop.time() - last_heard > self._ping_interval + self._timeout:
                    raise TimeoutError("no answer to PING on the subscription")
                if not pinged:
                    async with asyncio.timeout(self._timeout):
                        await pubsub.ping()
                    pinged = True
        finally:
            try:
                async with asyncio.timeout(self._timeout):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            except REDIS_FAILURES:
                pass

    def _set(self, subscribed: bool) -> None:
        if subscribed != self.subscribed:
            self.subscribed = subscribed
            log.info("config invalidation " + ("subscribed" if subscribed else "subscription lost"))
            self._on_state(subscribed)


def _raise_if_cancelling() -> None:
    """Honour a cancellation that redis-py turned into a timeout.

    redis-py's get_message(timeout=...) returns None on asyncio.TimeoutError, and on
    Python 3.11 a cancel that lands as that read deadline fires can surface as the
    timeout: the CancelledError is lost, but the task still counts the request.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()
