"""A Redis list that holds what a worker could not deliver, for any worker to take back.

The telemetry webhook and the usage ledger spill the overflow of their in-memory
queues here while their destination is away. Every call goes through the worker's
`RedisGate` (bounded by REDIS_TIMEOUT); `None` means Redis did not answer, and the
caller keeps (or counts as dropped) what it could not push. A leaf module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from proxy.redis_gate import RedisGate, RedisUnavailable


class RedisSpill:
    def __init__(self, redis: Redis, gate: RedisGate, key: str) -> None:
        self._redis = redis
        self._gate = gate
        self.key = key

    async def push(self, items: Sequence[bytes], *, keep: int | None = None) -> int | None:
        """Append `items`; with `keep`, trim the list to its newest `keep` items. The
        list's length before the trim, or None when Redis did not answer."""
        redis, key = self._redis, self.key

        async def push() -> list[Any]:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.rpush(key, *items)
                if keep is not None:
                    pipe.ltrim(key, -keep, -1)
                return await pipe.execute()

        try:
            replies = await self._gate.run(push, f"spill to {key}")
        except RedisUnavailable:
            return None
        return int(replies[0])

    async def pop(self, count: int) -> list[bytes] | None:
        """Up to `count` of the oldest items, taken off the list; None: no answer."""
        redis, key = self._redis, self.key
        try:
            found = await self._gate.run(lambda: redis.lpop(key, count), f"replay {key}")
        except RedisUnavailable:
            return None
        return [i for i in (found or []) if isinstance(i, bytes)]
