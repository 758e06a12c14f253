"""RedisGate against the real local Redis and a port nobody listens on."""

from __future__ import annotations

import asyncio
import logging

import pytest

from proxy.cache.redis_client import open_redis
from proxy.redis_gate import RedisGate, RedisUnavailable
from tests.helpers import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_an_answer_passes_through_and_the_gate_stays_open(redis_client):
    gate = RedisGate(1.0)
    assert await gate.run(redis_client.ping, "ping") is True
    assert gate.is_open


async def test_a_failure_shuts_the_gate_for_the_cooldown_then_it_opens_again(redis_client):
    clock = Clock()
    gate = RedisGate(0.5, cooldown=1.0, clock=clock)
    down = open_redis(f"redis://127.0.0.1:{free_port()}/0", 0.5)  # refuses connections
    try:
        with pytest.raises(RedisUnavailable, match="config get"):
            await gate.run(lambda: down.get("k"), "config get")
    finally:
        await down.aclose(close_connection_pool=True)
    assert not gate.is_open
    calls = []

    async def ping() -> bool:
        calls.append(1)
        return bool(await redis_client.ping())

    with pytest.raises(RedisUnavailable):
        await gate.run(ping, "ping")  # shut: Redis is not even asked
    assert calls == []
    clock.now += 1.0
    assert gate.is_open
    assert await gate.run(ping, "ping") is True
    assert calls == [1]


async def test_an_operation_slower_than_the_timeout_is_a_failure():
    gate = RedisGate(0.05)
    never = asyncio.Event()

    async def stalled() -> None:
        await never.wait()

    with pytest.raises(RedisUnavailable) as caught:
        await gate.run(stalled, "stalled")
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert not gate.is_open


async def test_an_operation_that_bounds_itself_gets_the_deadline_and_its_timeout_shuts():
    gate = RedisGate(0.05)
    loop = asyncio.get_running_loop()
    handed: list[float] = []

    async def answers(by: float) -> str:
        handed.append(by)
        return "ok"

    before = loop.time()
    assert await gate.run_by(answers, "answers") == "ok"
    assert before + 0.05 <= handed[0] <= loop.time() + 0.05

    async def late(by: float) -> None:
        raise TimeoutError("past the deadline")

    with pytest.raises(RedisUnavailable) as caught:
        await gate.run_by(late, "late")
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert not gate.is_open
    with pytest.raises(RedisUnavailable):
        await gate.run_by(answers, "answers")  # shut: not even asked
    assert len(handed) == 1


async def test_failures_are_logged_at_most_once_per_interval(caplog):
    caplog.set_level(logging.WARNING, logger="proxy.redis")
    gate = RedisGate(0.5)
    for _ in range(3):
        gate.failed("config-invalidate subscription", ConnectionError("refused"))
    (line,) = caplog.records
    assert line.getMessage() == "redis unavailable; serving without it"
    assert line.__dict__["operation"] == "config-invalidate subscription"
    assert gate.is_open  # a failure outside run() is only reported


async def test_readiness_asks_redis_while_the_gate_is_shut_and_an_answer_opens_it(redis_client):
    """One slow call shuts the gate; /readyz must report Redis as it is now, not the
    cooldown, and a Redis that answers again is used again at once."""
    from proxy.cache.redis_client import RedisCheck

    clock = Clock()
    gate = RedisGate(0.05, cooldown=60.0, clock=clock)
    never = asyncio.Event()
    with pytest.raises(RedisUnavailable):
        await gate.run(never.wait, "stalled")
    assert not gate.is_open
    assert await RedisCheck(redis_client, gate).check() is None
    assert gate.is_open
    assert await gate.run(redis_client.ping, "ping") is True
