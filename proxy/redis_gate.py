"""The gate every Redis call goes through: bounded, and shut for a moment after a failure.

Every call is bounded by REDIS_TIMEOUT (the client itself never retries: see
cache.redis_client.open_redis). After a failure the gate stays shut for a moment,
so an outage costs one timeout per second rather than one per request; failures are
logged at most every 10 s. A leaf module: the config cache, the invalidation
subscriber, the telemetry spill and (later) budgets and limits share one gate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from proxy.throttled_log import RateLimitedLog

log = logging.getLogger("proxy.redis")
# What a failing Redis raises: redis-py's errors (RedisClusterException, e.g. "no
# reachable node", is not one), socket errors and timeouts.
REDIS_FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError)
# One Redis or a Redis Cluster (REDIS_CLUSTER=1): every caller takes either.
RedisClient: TypeAlias = Redis | RedisCluster
T = TypeVar("T")
COOLDOWN_S = 1.0


class RedisUnavailable(Exception):
    """Redis did not answer (or the gate is shut after a recent failure)."""


class RedisGate:
    name = "redis"  # as a readiness check

    def __init__(
        self,
        timeout: float,
        *,
        cooldown: float = COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = timeout
        self._cooldown = cooldown
        self._clock = clock
        self._shut_until = 0.0
        self._warn = RateLimitedLog(log)

    @property
    def is_open(self) -> bool:
        return self._clock() >= self._shut_until

    async def run(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        """Run one Redis operation within the timeout, or raise RedisUnavailable."""
        if not self.is_open:
            raise RedisUnavailable(what)
        try:
            async with asyncio.timeout(self._timeout):
                return await operation()
        except REDIS_FAILURES as e:
            raise self._failure(what, e) from e

    async def run_by(self, operation: Callable[[float], Awaitable[T]], what: str) -> T:
        """`run` for an operation that bounds itself (lighter than a timeout context):
        it is handed the loop time by which it must be done (REDIS_TIMEOUT from now)
        and raises TimeoutError past it."""
        if not self.is_open:
            raise RedisUnavailable(what)
        try:
            return await operation(asyncio.get_running_loop().time() + self._timeout)
        except REDIS_FAILURES as e:
            raise self._failure(what, e) from e

    def _failure(self, what: str, error: BaseException) -> RedisUnavailable:
        """Shut the gate for the cooldown and log the failure (throttled)."""
        self._shut_until = self._clock() + self._cooldown
        self._warn.warning(
            "redis", "redis unavailable; serving without it", operation=what, error=repr(error)
        )
        return RedisUnavailable(what)

    async def probe(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        """Run one operation even while the gate is shut (readiness asks Redis itself,
        not the cooldown of an earlier failure): an answer opens the gate again."""
        self._shut_until = 0.0
        return await self.run(operation, what)

    def failed(self, what: str, error: BaseException) -> None:
        """Record a failure seen outside `run` (the pub/sub connection)."""
        self._warn.warning(
            "redis", "redis unavailable; serving without it", operation=what, error=repr(error)
        )
