"""The Redis spill list: push (optionally trimmed), pop oldest first, None when Redis is away."""

from __future__ import annotations

from redis.asyncio import Redis

from proxy.redis_gate import RedisGate
from proxy.redis_spill import RedisSpill


async def test_push_then_pop_oldest_first(redis_client):
    spill = RedisSpill(redis_client, RedisGate(1.0), "test:spill")
    assert await spill.push([b"a", b"b", b"c"]) == 3
    assert await spill.pop(2) == [b"a", b"b"]
    assert await spill.push([b"d", b"e"], keep=2) == 3  # the length before the trim
    assert await spill.pop(10) == [b"d", b"e"]
    assert await spill.pop(10) == []


async def test_redis_away_is_none_not_an_exception():
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    spill = RedisSpill(dead, RedisGate(0.5), "test:spill")
    try:
        assert await spill.push([b"a"]) is None
        assert await spill.pop(1) is None
    finally:
        await dead.aclose()
