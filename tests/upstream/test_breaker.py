"""Circuit breakers (SPEC 12) on an injected clock."""

from __future__ import annotations

from proxy.route import BreakerPolicy
from proxy.upstream.breaker import Breakers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_consecutive_failures_open_it_for_the_cooldown_then_one_probe_goes():
    clock = Clock()
    breakers = Breakers(clock=clock)
    breaker = breakers.get("alice", "gpt", BreakerPolicy(failures=3, cooldown_s=10))
    breaker.failure()
    breaker.failure()
    breaker.success()  # any answer that is no failure ends the run
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert not breaker.allow() and breakers.opened == 1 and breakers.open_count() == 1
    clock.now += 9.2
    assert breaker.retry_after() == 1  # 0.8 s left, rounded up
    clock.now += 1
    assert breaker.allow()  # the half-open probe
    assert not breaker.allow()  # the others are still refused while it is out
    breaker.failure()  # the probe failed: open again, for a whole cooldown
    assert not breaker.allow() and breakers.opened == 2 and breaker.retry_after() == 10
    clock.now += 10
    assert breaker.allow()
    breaker.success()
    assert breaker.allow() and breaker.allow() and breakers.open_count() == 0


def test_a_probe_that_ends_without_a_verdict_lets_another_go():
    clock = Clock()
    breaker = Breakers(clock=clock).get(None, "gpt", BreakerPolicy(failures=1, cooldown_s=1))
    breaker.failure()
    clock.now += 1
    assert breaker.allow()
    breaker.abandon()  # the client left mid-probe
    assert breaker.allow()


def test_breakers_are_per_tenant_and_route():
    breakers = Breakers(clock=Clock())
    policy = BreakerPolicy(failures=1)
    breakers.get("alice", "gpt", policy).failure()
    assert not breakers.get("alice", "gpt", policy).allow()
    assert breakers.get("bob", "gpt", policy).allow()
    assert breakers.get("alice", "claude", policy).allow()


def test_a_changed_policy_starts_a_fresh_breaker():
    breakers = Breakers(clock=Clock())
    breakers.get("alice", "gpt", BreakerPolicy(failures=1)).failure()
    assert breakers.get("alice", "gpt", BreakerPolicy(failures=2)).allow()
