"""The budget script's keys, calls and replies: every key of a tenant shares one hash
tag (one Redis Cluster slot), a call carries what is owed and each request in order,
and a reply becomes the grant or the refusal a client sees."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from proxy.accounting.owed import Owed
from proxy.accounting.quota import Reservation
from proxy.accounting.quota_script import (
    SCRIPT,
    decide,
    reserved_key,
    rpm_key,
    script_call,
    spend_key,
    tpm_key,
    tpm_used_key,
)
from proxy.errors import BudgetExceededError, RateLimitedError

NOW = datetime(2026, 11, 30, 23, 0, tzinfo=UTC).timestamp()


def reservation(member: str = "ev1", **limits: int | None) -> Reservation:
    return Reservation(
        "alice",
        NOW,
        member,
        budget_micro=limits.get("budget"),
        estimate_micro=115,
        rpm=limits.get("rpm"),
        tpm=limits.get("tpm"),
        tpm_tokens=115,
    )


def test_every_key_of_a_tenant_is_in_its_hash_tag():
    keys = [
        spend_key("a:b", "2026-11"),
        reserved_key("a:b", "2026-11"),
        rpm_key("a:b"),
        tpm_key("a:b"),
        tpm_used_key("a:b"),
    ]
    assert all("{a:b}" in key for key in keys)
    assert len(set(keys)) == 5


def test_a_call_carries_what_is_owed_then_each_request():
    owed = Owed()
    owed.owe(115, 40, (1_000, "ev0", 115, 20))
    call = script_call(
        "alice", "2026-11", owed, [reservation(budget=900), reservation("ev2", rpm=3)], 900
    )
    assert call[:6] == [
        5,
        spend_key("alice", "2026-11"),
        reserved_key("alice", "2026-11"),
        rpm_key("alice"),
        tpm_key("alice"),
        tpm_used_key("alice"),
    ]
    assert call[6:11] == [900, 60_000, 115, 40, 1]
    assert call[11:15] == [1_000, "ev0", 115, 20]
    at = round(NOW * 1000)
    assert call[15:] == [at, "ev1", 900, 115, -1, -1, 115, at, "ev2", -1, 115, 3, -1, 115]
    assert script_call("alice", "2026-11", None, [], 900)[8:] == [0, 0, 0]


async def test_the_script_settles_then_reserves_in_the_real_redis(redis_client):
    await redis_client.set(reserved_key("alice", "2026-11"), 115)
    owed = Owed()
    owed.owe(115, 40, None)
    call = script_call("alice", "2026-11", owed, [reservation(budget=200)] * 2, 900)
    assert await redis_client.eval(SCRIPT, *call) == [0, 0, 1, 0]  # 40 + 115 fits, 155+115 not
    assert int(await redis_client.get(spend_key("alice", "2026-11"))) == 40
    assert int(await redis_client.get(reserved_key("alice", "2026-11"))) == 115


@pytest.mark.parametrize(
    ("outcome", "wait_ms", "error", "retry_after"),
    [
        (1, 0, BudgetExceededError, 3600),  # to the end of the UTC month
        (2, 30_000, RateLimitedError, 30),
        (3, 1_500, RateLimitedError, 2),  # rounded up
    ],
)
def test_a_refusal_carries_its_retry_after(outcome, wait_ms, error, retry_after):
    r = reservation(budget=0)
    decide(r, outcome, wait_ms)
    assert r.state == Reservation.REFUSED
    assert isinstance(r.error, error) and r.error.retry_after == retry_after


def test_a_grant_is_held_in_redis():
    r = reservation(budget=900)
    decide(r, 0, 0)
    assert (r.state, r.error) == (Reservation.GRANTED, None)


async def test_a_reservation_refreshes_the_ttl_and_a_release_alone_keeps_it(redis_client):
    key = reserved_key("alice", "2026-11")
    call = script_call("alice", "2026-11", None, [reservation(budget=10_000)], 900)
    assert await redis_client.eval(SCRIPT, *call) == [0, 0]
    assert 899 <= await redis_client.ttl(key) <= 900
    await redis_client.expire(key, 50)  # as if the reservation were 850 s old
    owed = Owed()
    owed.owe(100, 0, None)  # 15 micro-USD of the 115 still held by another request
    assert await redis_client.eval(SCRIPT, *script_call("alice", "2026-11", owed, [], 900)) == []
    assert int(await redis_client.get(key)) == 15
    assert 0 < await redis_client.ttl(key) <= 50  # a release refreshes nothing
    call = script_call("alice", "2026-11", None, [reservation("ev2", budget=10_000)], 900)
    assert await redis_client.eval(SCRIPT, *call) == [0, 0]
    assert int(await redis_client.get(key)) == 130
    assert 899 <= await redis_client.ttl(key) <= 900


async def test_the_tpm_total_follows_corrections_and_the_window(redis_client):
    used = tpm_used_key("alice")
    at = round(NOW * 1000)

    async def run(owed: Owed | None, *group: Reservation) -> list[int]:
        reply: list[int] = await redis_client.eval(
            SCRIPT, *script_call("alice", "2026-11", owed, group, 900)
        )
        return reply

    assert await run(None, reservation("ev1", tpm=1_000)) == [0, 0]
    assert int(await redis_client.get(used)) == 115
    await redis_client.pexpire(used, 20_000)
    await redis_client.pexpire(tpm_key("alice"), 20_000)
    owed = Owed()
    owed.owe(0, 0, (at, "ev1", 115, 40))  # the request used 40 tokens, not 115
    assert await run(owed) == []
    assert int(await redis_client.get(used)) == 40
    assert await redis_client.zrange(tpm_key("alice"), 0, -1) == [b"ev1:40"]
    assert 0 < await redis_client.pttl(used) <= 20_000  # a correction alone keeps the TTL
    later = reservation("ev2", tpm=1_000)
    later.at = NOW + 60.001  # ev1 has left the window
    assert await run(None, later) == [0, 0]
    assert int(await redis_client.get(used)) == 115
    assert await redis_client.zrange(tpm_key("alice"), 0, -1) == [b"ev2:115"]
    assert 59_000 < await redis_client.pttl(used) <= 60_000
