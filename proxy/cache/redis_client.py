"""The worker's Redis client (opened by `proxy.contexts.redis_ctx`), and its readiness check.

The client never retries (redis-py retries ten times by default, which would turn a
frozen Redis into a frozen gateway) and waits at most REDIS_TIMEOUT for a connection
or an answer. Calls go through the `RedisGate` (proxy.redis_gate).
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

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
