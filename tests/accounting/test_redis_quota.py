"""Budgets and limits in the real Redis, with an injected clock: what fits is admitted,
what does not is refused with the right Retry-After, and settlement leaves the month's
spend equal to what the requests actually cost, with no reservation behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from proxy.accounting.cost import PriceBook
from proxy.accounting.quota import QuotaAdmission, Reservation
from proxy.accounting.quota_script import reserved_key, spend_key, tpm_key, tpm_used_key
from proxy.accounting.redis_quota import RedisQuota
from proxy.body import inspect_body
from proxy.cache.redis_client import close_redis, open_redis
from proxy.errors import BudgetExceededError, BudgetUnavailableError, RateLimitedError
from proxy.redis_gate import RedisGate
from proxy.route import Route
from proxy.tasks import TaskSet
from proxy.tenancy.config import TenantConfig
from proxy.usage_record import UsageRecord
from tests.conftest import REDIS_TEST_URL, RedisTarget
from tests.helpers import TCPRelay

# One hour before the end of November 2026 (UTC).
NOW = datetime(2026, 11, 30, 23, 0, tzinfo=UTC).timestamp()
ROUTE = Route(
    provider="openai",
    api_base="http://x",
    model_name="m",
    input_cost_per_mtok=1.0,  # so a token costs one micro-USD
    output_cost_per_mtok=1.0,
)
BODY = inspect_body(
    b'{"model":"m","max_tokens":100,"pad":"xxxxxxxxxxxxxxxxxxx"}', "application/json"
)
ESTIMATE = 15 + 100  # 58 bytes / 4 rounded up, plus max_tokens


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def quota(**doc: Any) -> TenantConfig:
    return TenantConfig(
        {},
        budget_monthly_usd=doc.get("budget"),
        limits_rpm=doc.get("rpm"),
        limits_tpm=doc.get("tpm"),
    )


@pytest.fixture
async def backend(redis_target: RedisTarget, redis_client: Any) -> AsyncIterator[Any]:
    """make(url=the test's Redis or cluster, fail_open=True) -> a running RedisQuota."""
    tasks, clients, made = TaskSet(), [], []

    def make(url: str | None = None, *, fail_open: bool = True) -> RedisQuota:
        cluster = url is None and redis_target.cluster
        # A short timeout where the test cuts Redis (`url`), else room for a busy machine.
        timeout = 0.3 if url else 2.0
        client = open_redis(url or redis_target.url, timeout, cluster=cluster)
        clients.append(client)
        q = RedisQuota(client, RedisGate(timeout), fail_open=fail_open, reservation_ttl=900)
        made.append((q, tasks.spawn(q.run(), name="budget")))
        return q

    yield make
    for q, settler in made:
        await q.close(settler)
    await tasks.close(grace=1.0)
    for client in clients:
        await close_redis(client)


def admission(q: RedisQuota, clock: Clock) -> QuotaAdmission:
    return QuotaAdmission(q, PriceBook(), default_max_tokens=4096, clock=clock)


def record(n: int, tenant: str = "alice") -> UsageRecord:
    return UsageRecord(f"ev{n}", f"req{n}", NOW, "POST", "/v1/chat/completions", tenant=tenant)


async def outcome(reservation: Reservation | None) -> str:
    assert reservation is not None
    try:
        await reservation
    except (BudgetExceededError, RateLimitedError, BudgetUnavailableError) as e:
        return f"{e.code} {e.retry_after}"
    return "ok"


async def test_a_budget_admits_what_fits_and_settles_to_the_actual_cost(backend, redis_client):
    q = backend()
    gate = admission(q, Clock())
    config = quota(budget=3 * ESTIMATE / 1e6)
    held = [gate.admit(record(i), ROUTE, BODY, config) for i in range(4)]
    outcomes = await asyncio.gather(*(outcome(r) for r in held))
    assert outcomes == ["ok", "ok", "ok", "budget_exceeded 3600"]  # to the month's end
    assert int(await redis_client.get(reserved_key("alice", "2026-11"))) == 3 * ESTIMATE
    for r, cost in zip(held, (40, 0, 115, 0), strict=True):  # an upstream error costs 0
        q.settle(r, cost, cost)
    assert await q.flush()
    assert await redis_client.get(reserved_key("alice", "2026-11")) is None
    assert int(await redis_client.get(spend_key("alice", "2026-11"))) == 155
    # Now 155 of 345 is spent: one more estimate fits, a second does not.
    again = [gate.admit(record(i), ROUTE, BODY, config) for i in range(10, 12)]
    assert [await outcome(r) for r in again] == ["ok", "budget_exceeded 3600"]


async def test_a_zero_budget_blocks_even_an_unpriced_model(backend):
    gate = admission(backend(), Clock())
    unpriced = Route(provider="openai", api_base="http://x", model_name="my-finetune")
    r = gate.admit(record(1), unpriced, BODY, quota(budget=0))
    assert await outcome(r) == "budget_exceeded 3600"
    free = gate.admit(record(2), unpriced, BODY, quota(budget=1.0))
    assert await outcome(free) == "ok"  # unpriced: reserves 0, is recorded, never charged


async def test_rpm_is_an_exact_sliding_window_with_retry_after(backend):
    clock = Clock()
    gate = admission(backend(), clock)
    config = quota(rpm=3)
    for n, at in enumerate((0, 10, 20)):
        clock.now = NOW + at
        assert await outcome(gate.admit(record(n), ROUTE, BODY, config)) == "ok"
    clock.now = NOW + 30
    assert await outcome(gate.admit(record(3), ROUTE, BODY, config)) == "rate_limited 30"
    clock.now = NOW + 60.001  # the first request left the window
    assert await outcome(gate.admit(record(4), ROUTE, BODY, config)) == "ok"
    assert await outcome(gate.admit(record(5), ROUTE, BODY, config)) == "rate_limited 10"


async def test_tpm_counts_the_estimate_and_is_corrected_to_actual_tokens(backend, redis_client):
    clock = Clock()
    q = backend()
    gate = admission(q, clock)
    config = quota(tpm=300)
    first = gate.admit(record(1), ROUTE, BODY, config)  # 115 tokens
    assert await outcome(first) == "ok"
    clock.now += 1
    assert await outcome(gate.admit(record(2), ROUTE, BODY, config)) == "ok"  # 230
    clock.now += 1
    assert await outcome(gate.admit(record(3), ROUTE, BODY, config)) == "rate_limited 58"
    q.settle(first, 0, 20)  # the first used 20 tokens, not 115
    assert await q.flush()
    assert await redis_client.zscore(tpm_key("alice"), "ev1:20") == round(NOW * 1000)
    assert await outcome(gate.admit(record(4), ROUTE, BODY, config)) == "ok"  # 20+115+115
    # Without max_tokens only the prompt counts (17 tokens).
    bare = inspect_body(b'{"model":"m","messages":[{"role":"user"}]}', "application/json")
    assert await outcome(gate.admit(record(5), ROUTE, bare, config)) == "ok"


async def test_tenants_without_budget_or_limits_cost_nothing(backend):
    gate = admission(backend("redis://127.0.0.1:1/0"), Clock())  # nothing listens there
    assert gate.admit(record(1), ROUTE, BODY, quota()) is None


async def relayed() -> tuple[TCPRelay, str]:
    """A relay to the test Redis that the test can cut, and the URL through it."""
    port = REDIS_TEST_URL.rsplit(":", 1)[1].split("/")[0]
    relay = TCPRelay("127.0.0.1", int(port))
    await relay.start()
    return relay, REDIS_TEST_URL.replace(f":{port}/", f":{relay.port}/")


@pytest.mark.one_redis  # cut through a relay
async def test_redis_down_fail_open_counts_in_process_and_closed_refuses(backend):
    relay, url = await relayed()
    await relay.cut()  # Redis is unreachable from the start
    config = quota(budget=ESTIMATE / 1e6, rpm=10)
    open_gate = admission(backend(url, fail_open=True), Clock())
    outcomes = [await outcome(open_gate.admit(record(i), ROUTE, BODY, config)) for i in (1, 2)]
    assert outcomes == ["ok", "budget_exceeded 3600"]  # this process's own counters
    closed_gate = admission(backend(url, fail_open=False), Clock())
    r = closed_gate.admit(record(3), ROUTE, BODY, config)
    assert await outcome(r) == "budget_unavailable 1"


async def test_a_settlement_redis_missed_is_retried_then_counted_if_shutdown_drops_it():
    relay, url = await relayed()
    client = open_redis(url, 0.3)
    q = RedisQuota(client, RedisGate(0.3, cooldown=0.0), fail_open=True, reservation_ttl=900)
    tasks = TaskSet()
    task = tasks.spawn(q.run(), name="budget")
    try:
        r = admission(q, Clock()).admit(record(1), ROUTE, BODY, quota(budget=1.0))
        assert await outcome(r) == "ok"
        await relay.cut()
        q.settle(r, 99, 99)
        assert not await q.flush()  # still owed, sent again with the next call
        assert q.counters["settle_retried"] == 1
        await q.close(task)  # Redis is still away: dropped, counted and logged
        assert q.counters["settle_dropped"] == 1
    finally:
        await tasks.close(grace=1.0)
        await client.aclose(close_connection_pool=True)


async def test_the_tpm_total_follows_the_window_as_entries_leave(backend, redis_client):
    clock = Clock()
    q = backend()
    gate = admission(q, clock)
    config = quota(tpm=250)
    assert await outcome(gate.admit(record(1), ROUTE, BODY, config)) == "ok"  # 115
    clock.now += 30
    assert await outcome(gate.admit(record(2), ROUTE, BODY, config)) == "ok"  # 230
    assert await outcome(gate.admit(record(3), ROUTE, BODY, config)) == "rate_limited 30"
    clock.now += 30.001  # the first left: 115 + 115
    assert await outcome(gate.admit(record(4), ROUTE, BODY, config)) == "ok"
    assert int(await redis_client.get(tpm_used_key("alice"))) == 230


async def test_a_request_cancelled_while_its_reservation_was_in_flight_is_still_settled(
    backend, redis_client
):
    q = backend()
    r = admission(q, Clock()).admit(record(1), ROUTE, BODY, quota(budget=1.0, tpm=1000))
    assert r is not None and r.state == Reservation.PENDING
    q.settle(r, 10, 10)  # the client left before the decision came back
    assert await q.flush()
    assert await redis_client.get(reserved_key("alice", "2026-11")) is None
    assert int(await redis_client.get(spend_key("alice", "2026-11"))) == 10
    assert int(await redis_client.get(tpm_used_key("alice"))) == 10


async def test_a_settlement_no_reservation_follows_reaches_redis_within_the_interval(
    backend, redis_client
):
    q = backend()
    gate = admission(q, Clock())
    held = gate.admit(record(1), ROUTE, BODY, quota(budget=1.0))
    assert await outcome(held) == "ok"
    await asyncio.sleep(0)  # the loop is back to waiting for the next reservation
    q.settle(held, 40, 40)
    deadline = asyncio.get_running_loop().time() + 1.0  # the interval is 50 ms
    while await redis_client.get(spend_key("alice", "2026-11")) is None:
        assert asyncio.get_running_loop().time() < deadline, "the settlement waited"
        await asyncio.sleep(0.01)
    assert int(await redis_client.get(spend_key("alice", "2026-11"))) == 40
    assert await redis_client.get(reserved_key("alice", "2026-11")) is None


async def test_tenants_on_every_node_are_decided_in_one_batch_and_settled(backend, redis_client):
    """One coalesced round trip holds tenants of many slots (every node of a cluster);
    the script is loaded where it is missing."""
    await redis_client.script_flush()
    q = backend()
    gate = admission(q, Clock())
    config = quota(budget=ESTIMATE / 1e6)
    tenants = [f"t{i}" for i in range(12)]
    held = [gate.admit(record(i, tenant), ROUTE, BODY, config) for i, tenant in enumerate(tenants)]
    held += [gate.admit(record(100 + i, t), ROUTE, BODY, config) for i, t in enumerate(tenants)]
    outcomes = await asyncio.gather(*(outcome(r) for r in held))
    assert outcomes == ["ok"] * 12 + ["budget_exceeded 3600"] * 12
    for r in held[:12]:
        q.settle(r, 7, 7)
    assert await q.flush()
    for tenant in tenants:
        assert int(await redis_client.get(spend_key(tenant, "2026-11"))) == 7
        assert await redis_client.get(reserved_key(tenant, "2026-11")) is None
