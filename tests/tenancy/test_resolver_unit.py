"""The resolver's timing rules, with a fake clock and a scripted Config API."""

from __future__ import annotations

import asyncio
import logging

import pytest

from proxy.errors import ConfigInvalidError, ConfigNotFoundError, ConfigUnavailableError
from proxy.tasks import TaskSet
from proxy.telemetry.metrics import Metrics
from proxy.tenancy.resolver import TenantResolver


class ScriptedAPI:
    name = "scripted"

    def __init__(self) -> None:
        self.answers: dict[str, object] = {}
        self.calls = 0
        self.hold: asyncio.Event | None = None  # when set, answers wait for it
        self.entered = asyncio.Event()

    async def fetch(self, user_id):
        self.calls += 1
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        answer = self.answers.get(user_id)
        if answer is None:
            raise ConfigNotFoundError("No configuration exists for this user.")
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def clock():
    return [100.0]


@pytest.fixture
def resolver(clock):
    api = ScriptedAPI()
    r = TenantResolver(
        source=api,
        l2=None,
        tasks=TaskSet(),
        metrics=Metrics(),
        l1_size=10,
        l1_ttl=30,
        negative_ttl=5,
        degraded_ttl=5,
        stale_if_error=300,
        clock=lambda: clock[0],
    )
    return r, api


async def test_not_found_is_remembered_briefly_then_retried(resolver, clock):
    r, api = resolver
    with pytest.raises(ConfigNotFoundError):
        await r.config_for("new")
    with pytest.raises(ConfigNotFoundError):
        r.cached("new")  # remembered: no second call
    assert api.calls == 1
    api.answers["new"] = {"default": {"provider": "mock"}}
    clock[0] += 5.1  # CONFIG_NEGATIVE_TTL later the tenant is usable
    assert r.cached("new") is None
    assert (await r.config_for("new")).default is not None
    assert api.calls == 2


async def test_unavailable_is_never_remembered(resolver):
    r, api = resolver
    api.answers["u"] = ConfigUnavailableError("down")
    for _ in range(2):
        with pytest.raises(ConfigUnavailableError):
            await r.config_for("u")
        assert r.cached("u") is None
    assert api.calls == 2


DOC = {"default": {"provider": "mock"}}
DOWN = ConfigUnavailableError("The configuration service is unavailable.")


async def _warm_then_lose_redis(r, api):
    """A warm tenant "u", then the invalidation subscription goes (Redis down)."""
    api.answers["u"] = DOC
    await r.config_for("u")
    r.set_subscribed(False)


async def test_losing_the_subscription_keeps_l1_for_a_failed_refresh(resolver):
    r, api = resolver
    await _warm_then_lose_redis(r, api)
    assert r.cached("u") is None  # due: invalidations may have been missed
    api.answers["u"] = DOWN
    assert (await r.config_for("u")).default is not None  # served stale, not a 503
    assert r.cached("u") is not None  # and fresh again: no call per request
    assert api.calls == 2


async def test_degraded_entries_are_refreshed_after_the_degraded_ttl(resolver, clock):
    r, api = resolver
    await _warm_then_lose_redis(r, api)
    await r.config_for("u")  # the refresh at the loss
    clock[0] += 4.9
    assert r.cached("u") is not None  # younger than CONFIG_DEGRADED_TTL
    clock[0] += 0.2
    assert r.cached("u") is None
    api.answers["u"] = {"default": {"provider": "mock", "timeout_s": 7}}
    assert (await r.config_for("u")).default.timeout_s == 7  # refreshed from the source
    assert api.calls == 3


async def test_a_degraded_refresh_is_single_flight(resolver, clock):
    r, api = resolver
    await _warm_then_lose_redis(r, api)
    api.answers["u"] = DOWN
    api.hold = asyncio.Event()
    waiting = [asyncio.ensure_future(r.config_for("u")) for _ in range(50)]
    await api.entered.wait()
    api.hold.set()
    configs = await asyncio.gather(*waiting)
    assert all(c.default is not None for c in configs)
    assert api.calls == 2  # the warm-up, then one refresh for all fifty


async def test_stale_serves_until_stale_if_error_after_the_first_failure(resolver, clock):
    r, api = resolver
    await _warm_then_lose_redis(r, api)
    api.answers["u"] = DOWN
    first_failure = clock[0]
    await r.config_for("u")
    while clock[0] + 1.0 < first_failure + 300:
        clock[0] += 1.0
        config = r.cached("u") or await r.config_for("u")
        assert config.default is not None
    assert api.calls - 2 <= 300 / 5 + 1  # one refresh per CONFIG_DEGRADED_TTL at most
    clock[0] = first_failure + 300
    assert r.cached("u") is None
    with pytest.raises(ConfigUnavailableError):  # 300 s after the first failure: the 503
        await r.config_for("u")
    with pytest.raises(ConfigUnavailableError):
        await r.config_for("u")
    api.answers["u"] = DOC  # the API is back: served fresh, with a new window
    assert (await r.config_for("u")).default is not None
    assert r.cached("u") is not None


async def test_a_successful_refresh_ends_the_stale_episode(resolver, clock):
    r, api = resolver
    await _warm_then_lose_redis(r, api)
    api.answers["u"] = DOWN
    await r.config_for("u")  # first failure
    clock[0] += 200
    api.answers["u"] = DOC
    await r.config_for("u")
    clock[0] += 200
    api.answers["u"] = DOWN
    assert (await r.config_for("u")).default is not None  # a new 300 s window


@pytest.mark.parametrize(
    ("answer", "error"),
    [(None, ConfigNotFoundError), ({"models": "x"}, ConfigInvalidError)],
)
async def test_a_refresh_that_finds_the_tenant_gone_or_invalid_stops_serving_it(
    resolver, clock, answer, error
):
    r, api = resolver
    await _warm_then_lose_redis(r, api)
    api.answers["u"] = DOWN
    await r.config_for("u")  # serving stale
    clock[0] += 5.1
    api.answers["u"] = answer
    with pytest.raises(error):
        await r.config_for("u")
    with pytest.raises(error):
        r.cached("u")  # remembered as refused, the stale copy is gone
    clock[0] += 5.1
    api.answers["u"] = DOWN
    with pytest.raises(ConfigUnavailableError):
        await r.config_for("u")


async def test_an_invalidation_ends_stale_serving(resolver):
    r, api = resolver
    await _warm_then_lose_redis(r, api)
    api.answers["u"] = DOWN
    r.drop_local("u")  # an admin DELETE on this worker while Redis is down
    with pytest.raises(ConfigUnavailableError):
        await r.config_for("u")


async def test_recovery_revalidates_entries_without_dropping_them(resolver, clock):
    r, api = resolver
    await _warm_then_lose_redis(r, api)
    await r.config_for("u")
    r.set_subscribed(True)
    assert r.cached("u") is None  # may have missed invalidations: due again
    api.answers["u"] = DOWN
    assert (await r.config_for("u")).default is not None  # kept, so a failure still serves
    api.answers["u"] = DOC
    clock[0] += 30.1
    await r.config_for("u")
    clock[0] += 29
    assert r.cached("u") is not None  # subscribed again: fresh for CONFIG_L1_TTL


async def test_a_warm_tenant_past_the_l1_ttl_is_served_stale_when_the_api_is_down(resolver, clock):
    r, api = resolver  # subscribed (no L2 here, so nothing else can answer)
    api.answers["u"] = DOC
    await r.config_for("u")
    clock[0] += 30.1
    api.answers["u"] = DOWN
    assert (await r.config_for("u")).default is not None
    clock[0] += 29
    assert r.cached("u") is not None  # retried after CONFIG_L1_TTL, not per request
    assert api.calls == 2


async def test_serving_stale_warns_at_most_once_per_ten_seconds(resolver, caplog):
    r, api = resolver
    for user in ("u", "v", "w"):
        api.answers[user] = DOC
        await r.config_for(user)
        api.answers[user] = DOWN
    r.set_subscribed(False)
    with caplog.at_level(logging.WARNING, logger="proxy.tenancy"):
        for user in ("u", "v", "w"):
            await r.config_for(user)
    warnings = [rec for rec in caplog.records if rec.getMessage() == "serving stale config"]
    assert len(warnings) == 1
    assert warnings[0].suppressed == 0
