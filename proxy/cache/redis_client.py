"""The worker's Redis client, and its readiness check.

The client never retries (redis-py retries ten times by default, which would turn a
frozen Redis into a frozen gateway) and waits at most REDIS_TIMEOUT for a connection
or an answer. Calls go through the `RedisGate` (proxy.redis_gate).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from proxy import keys
from proxy.redis_gate import RedisGate, RedisUnavailable

MAX_CONNECTIONS = 64


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
