"""The resolver's timing rules, with a fake clock and a scripted Config API."""

from __future__ import annotations

import pytest

from proxy.errors import ConfigNotFoundError, ConfigUnavailableError
from proxy.tasks import TaskSet
from proxy.telemetry.metrics import Metrics
from proxy.tenancy.resolver import TenantResolver


class ScriptedAPI:
    def __init__(self) -> None:
        self.answers: dict[str, object] = {}
        self.calls = 0

    async def fetch(self, user_id):
        self.calls += 1
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
        api=api,
        l2=None,
        tasks=TaskSet(),
        metrics=Metrics(),
        l1_size=10,
        l1_ttl=30,
        negative_ttl=5,
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


async def test_losing_the_subscription_flushes_l1_and_shortens_ttl(resolver, clock):
    r, api = resolver
    api.answers["u"] = {"default": {"provider": "mock"}}
    await r.config_for("u")
    assert r.cached("u") is not None
    r.set_subscribed(False)
    assert r.cached("u") is None  # flushed: invalidations may be missed from now on
    await r.config_for("u")
    clock[0] += 1.5
    assert r.cached("u") is None  # kept only briefly while unsubscribed
    r.set_subscribed(True)
    await r.config_for("u")
    clock[0] += 20
    assert r.cached("u") is not None
