"""The worker's Redis client, and the gate every Redis call goes through.

Every call is bounded by REDIS_TIMEOUT and never retried (redis-py retries ten
times by default, which would turn a frozen Redis into a frozen gateway). After a
failure the gate stays shut for a moment, so an outage costs one timeout per
second rather than one per request; failures are logged at most every 10 s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from proxy import keys
from proxy.throttled_log import RateLimitedLog

log = logging.getLogger("proxy.redis")
T = TypeVar("T")
COOLDOWN_S = 1.0
MAX_CONNECTIONS = 64


class RedisUnavailable(Exception):
    """Redis did not answer (or the gate is shut after a recent failure)."""


def open_redis(url: str, timeout: float) -> Redis:
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout,  # waiting for a free connection
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    return Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    assert settings.redis_url is not None
    client = open_redis(settings.redis_url, settings.redis_timeout)
    app[keys.REDIS] = client
    app[keys.REDIS_GATE] = RedisGate(settings.redis_timeout)
    yield
    await client.aclose(close_connection_pool=True)  # a pool passed in is not closed by default


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
        except (RedisError, OSError, TimeoutError) as e:
            self._shut_until = self._clock() + self._cooldown
            self._warn.warning(
                "redis", "redis unavailable; serving without it", operation=what, error=repr(e)
            )
            raise RedisUnavailable(what) from e

    def failed(self, what: str, error: BaseException) -> None:
        """Record a failure seen outside `run` (the pub/sub connection)."""
        self._warn.warning(
            "redis", "redis unavailable; serving without it", operation=what, error=repr(error)
        )


class RedisCheck:
    """Readiness: Redis answers PING within the timeout."""

    name = "redis"

    def __init__(self, redis: Redis, gate: RedisGate) -> None:
        self._redis = redis
        self._gate = gate

    async def check(self) -> str | None:
        try:
            await self._gate.run(self._redis.ping, "ping")
        except RedisUnavailable:
            return "unreachable"
        return None
