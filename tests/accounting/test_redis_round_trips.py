"""What budgets and limits cost in Redis, counted on a redis-server of the test's own
through a relay that reads every command the gateway sends and counts its round trips:
at most one script call and one round trip per request when requests come one at a
time (settlement rides along with the next reservation), one per batch when they
arrive together, and nothing at all for a tenant without a budget or limits."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from proxy.accounting.cost import PriceBook
from proxy.accounting.quota import QuotaAdmission, Reservation
from proxy.accounting.redis_quota import RedisQuota
from proxy.body import inspect_body
from proxy.cache.redis_client import open_redis
from proxy.redis_gate import RedisGate
from proxy.route import Route
from proxy.tasks import TaskSet
from proxy.tenancy.config import TenantConfig
from proxy.usage_record import UsageRecord
from tests.conftest import _service_missing
from tests.helpers import OwnRedis, TCPRelay

ROUTE = Route(
    provider="openai",
    api_base="http://x",
    model_name="m",
    input_cost_per_mtok=1.0,
    output_cost_per_mtok=1.0,
)
BODY = inspect_body(b'{"model":"m","max_tokens":100}', "application/json")
METERED = TenantConfig({}, budget_monthly_usd=100.0, limits_rpm=10**6, limits_tpm=10**9)
FREE = TenantConfig({})


class CountingRelay(TCPRelay):
    """A loopback relay to Redis that reads what the client sends: the commands (RESP
    arrays, by name) and the round trips (a pipeline is written at once)."""

    def __init__(self, port: int) -> None:
        super().__init__("127.0.0.1", port)
        self.commands: list[str] = []
        self.writes = 0

    def sent(self) -> tuple[dict[str, int], int]:
        return dict(Counter(self.commands)), self.writes

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await super()._relay(_Reading(reader, self), writer)  # type: ignore[arg-type]

    def record(self, buffer: bytes) -> bytes:
        """Count one write; record every whole command in `buffer`; return the rest."""
        self.writes += 1
        while buffer:
            lines = buffer.split(b"\r\n")
            if len(lines) < 3:
                return buffer
            count, at, args = int(lines[0][1:]), 1, list[bytes]()
            while len(args) < count and at + 1 < len(lines):
                args.append(lines[at + 1])  # `$len`, then the argument (no CRLF in ours)
                at += 2
            if len(args) < count or at >= len(lines):
                return buffer
            self.commands.append(args[0].decode().lower())
            buffer = b"\r\n".join(lines[at:])
        return buffer


class _Reading:
    """The client's side of a relayed connection, read through `relay.record`."""

    def __init__(self, reader: asyncio.StreamReader, relay: CountingRelay) -> None:
        self._reader = reader
        self._relay = relay
        self._pending = b""

    async def read(self, n: int) -> bytes:
        data = await self._reader.read(n)
        if data:
            self._pending = self._relay.record(self._pending + data)
        return data


class Counted:
    """A running RedisQuota on its own Redis, and what it sent there."""

    def __init__(self, relay: CountingRelay, quota: RedisQuota) -> None:
        self.quota = quota
        self.gate = QuotaAdmission(quota, PriceBook(), default_max_tokens=100, clock=lambda: 1e9)
        self._relay = relay
        self._seen: tuple[dict[str, int], int] = ({}, 0)
        self._n = 0

    def mark(self) -> None:
        self._seen = self._relay.sent()

    def sent(self) -> tuple[dict[str, int], int]:
        """(Redis commands by name, round trips) since the last mark."""
        (before, writes), (after, now) = self._seen, self._relay.sent()
        calls = {name: n - before.get(name, 0) for name, n in after.items()}
        return {name: n for name, n in calls.items() if n}, now - writes

    def admit(self, config: TenantConfig, tenant: str = "alice") -> Reservation | None:
        self._n += 1
        record = UsageRecord(f"ev{self._n}", f"r{self._n}", 1e9, "POST", "/v1/x", tenant=tenant)
        return self.gate.admit(record, ROUTE, BODY, config)


@pytest.fixture
async def counted() -> AsyncIterator[Counted]:
    if shutil.which("redis-server") is None:
        _service_missing("redis-server is not installed")
    redis = OwnRedis()
    await redis.start()
    relay = CountingRelay(redis.port)
    await relay.start()
    client = open_redis(f"redis://127.0.0.1:{relay.port}/0", 2.0)
    # A settlement with nothing to ride on would be sent after 10 s: never in a test.
    quota = RedisQuota(
        client, RedisGate(2.0), fail_open=False, reservation_ttl=900, settle_interval=10.0
    )
    tasks = TaskSet()
    task = tasks.spawn(quota.run(), name="budget")
    c = Counted(relay, quota)
    await request(c, METERED, "warm-up")  # connected, the script loaded: the steady state
    assert await quota.flush()
    try:
        yield c
    finally:
        await quota.close(task)
        await tasks.close(grace=1.0)
        await client.aclose(close_connection_pool=True)
        await relay.cut()
        await redis.stop()


async def request(c: Counted, config: TenantConfig, tenant: str = "alice") -> Any:
    """One request's admission and settlement, as the proxy makes them."""
    r = c.admit(config, tenant)
    if r is not None:
        await r
        c.quota.settle(r, 40, 60)
    return r


async def test_one_request_at_a_time_costs_one_script_call_and_one_round_trip(counted):
    counted.mark()
    for _ in range(10):
        await request(counted, METERED)
    # Each reservation carried the previous request's settlement: nothing else was sent.
    assert counted.sent() == ({"evalsha": 10}, 10)
    assert await counted.quota.flush()  # the last settlement, sent at once here
    assert counted.sent() == ({"evalsha": 11}, 11)


async def test_requests_that_arrive_together_share_one_script_call(counted):
    counted.mark()
    first = await asyncio.gather(*(request(counted, METERED) for _ in range(50)))
    assert all(r.state == Reservation.GRANTED for r in first)
    assert counted.sent() == ({"evalsha": 1}, 1)
    second = await asyncio.gather(*(request(counted, METERED) for _ in range(50)))
    assert all(r.state == Reservation.GRANTED for r in second)
    # The second batch's call also carried the first batch's 50 settlements.
    assert counted.sent() == ({"evalsha": 2}, 2)


async def test_several_tenants_arriving_together_cost_one_round_trip(counted):
    counted.mark()
    tenants = [f"t{i}" for i in range(5)] * 10
    await asyncio.gather(*(request(counted, METERED, t) for t in tenants))
    assert counted.sent() == ({"evalsha": 5}, 1)  # one call per tenant, one pipeline


async def test_a_tenant_without_budget_or_limits_costs_no_redis_call(counted):
    counted.mark()
    assert [await request(counted, FREE) for _ in range(20)] == [None] * 20
    assert await counted.quota.flush()
    assert counted.sent() == ({}, 0)
