"""The month's spend and reservations for the metering API: Redis counters, or the
worker's own without Redis; 503 when Redis does not answer."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from proxy.accounting.local_quota import LocalQuota
from proxy.accounting.month_spend import MonthSpend
from proxy.accounting.redis_quota import reserved_key, spend_key
from proxy.errors import BudgetUnavailableError
from proxy.redis_gate import RedisGate


async def test_the_redis_month_counters(redis_client):
    await redis_client.set(spend_key("acme", "2026-11"), 1234)
    await redis_client.set(reserved_key("acme", "2026-11"), 56)
    spend = MonthSpend(LocalQuota(), redis_client, RedisGate(1.0))
    assert await spend.read("acme", "2026-11") == (1234, 56)
    assert await spend.read("acme", "2026-10") == (0, 0)


async def test_without_redis_the_workers_own_counters():
    assert await MonthSpend(LocalQuota()).read("acme", "2026-11") == (0, 0)


async def test_redis_away_is_503():
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        with pytest.raises(BudgetUnavailableError):
            await MonthSpend(LocalQuota(), dead, RedisGate(0.5)).read("acme", "2026-11")
    finally:
        await dead.aclose()
