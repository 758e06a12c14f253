"""Readiness checks: static mode's is always ready; the others speak the same protocol."""

from __future__ import annotations

import aiohttp

from proxy.cache.redis_client import RedisCheck, open_redis
from proxy.readiness import ReadinessCheck, StaticConfigCheck
from proxy.redis_gate import RedisGate
from proxy.tenancy.config_api import ConfigAPIClient
from tests.helpers import free_port


async def test_static_config_is_always_ready():
    check: ReadinessCheck = StaticConfigCheck()
    assert (check.name, await check.check()) == ("config", None)


async def test_every_check_names_itself_and_gives_a_reason_when_not_ready():
    port = free_port()  # nothing listens here
    redis = open_redis(f"redis://127.0.0.1:{port}/0", 0.5)
    async with aiohttp.ClientSession() as session:
        checks: list[ReadinessCheck] = [
            RedisCheck(redis, RedisGate(0.5)),
            ConfigAPIClient(session, f"http://127.0.0.1:{port}", api_key=None, timeout=0.5),
        ]
        reasons = {c.name: await c.check() for c in checks}
    await redis.aclose(close_connection_pool=True)
    assert set(reasons) == {"redis", "config_api"}
    assert all(isinstance(reason, str) and reason for reason in reasons.values())
