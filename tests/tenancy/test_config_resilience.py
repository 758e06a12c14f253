"""Resilience fields of a route (SPEC 3, 12): parsed into the Route, refused naming the field."""

from __future__ import annotations

import pytest

from proxy.route import DEFAULT_RETRY_STATUSES, BreakerPolicy, MockFaults, RetryPolicy
from proxy.tenancy.config import ConfigError, parse_tenant_config

BASE = "https://api.example.com"


def _doc(**first: object) -> dict[str, object]:
    return {
        "models": [
            {"model_name": "a", "api_base": BASE, **first},
            {"model_name": "b", "provider": "anthropic", "api_base": BASE},
            {"model_name": "c", "provider": "mock"},
        ]
    }


def test_the_spec_example_parses_with_its_defaults_filled_in():
    config = parse_tenant_config(
        _doc(
            retry={"attempts": 3, "on_status": [429, 503], "backoff_ms": 50, "max_wait_s": 2},
            breaker={"failures": 2},
            fallbacks=["b", "c"],
            max_tokens_default=1024,
        )
    )
    a = config.routes["a"]
    assert a.retry == RetryPolicy(3, frozenset({429, 503}), 50.0, 2.0)
    assert a.breaker == BreakerPolicy(failures=2, cooldown_s=30.0)
    assert a.fallbacks == (config.routes["b"], config.routes["c"])
    assert a.max_tokens_default == 1024 and a.is_resilient
    assert parse_tenant_config(_doc(retry={})).routes["a"].retry == RetryPolicy(
        3, DEFAULT_RETRY_STATUSES, 100.0, 5.0
    )


def test_a_route_without_resilience_fields_gets_one_try_and_nothing_else():
    a = parse_tenant_config(_doc()).routes["a"]
    assert (a.retry, a.breaker, a.fallbacks, a.is_resilient) == (None, None, (), False)
    assert a.max_tokens_default == 4096


def test_a_fallbacks_own_fallbacks_are_not_followed():
    doc = _doc(fallbacks=["b"])
    doc["models"][1]["fallbacks"] = ["c"]  # type: ignore[index]
    config = parse_tenant_config(doc)
    assert config.routes["a"].fallbacks[0].fallbacks == ()
    assert config.routes["b"].fallbacks == (config.routes["c"],)


def test_the_default_route_may_fall_back_to_named_routes():
    doc = _doc()
    doc["default"] = {"provider": "mock", "fallbacks": ["a"]}
    config = parse_tenant_config(doc)
    assert config.default is not None and config.default.fallbacks == (config.routes["a"],)
    assert config.default.name == "(default)"


def test_mock_faults_are_parsed():
    doc = _doc()
    doc["models"][2].update(  # type: ignore[index]
        mock_fail={"status": 503, "every_n": 2}, mock_stall_ms=50, mock_cut_after_chunks=2
    )
    assert parse_tenant_config(doc).routes["c"].mock_faults == MockFaults(503, 2, 50.0, 2)


@pytest.mark.parametrize(
    ("first", "field"),
    [
        ({"fallbacks": ["a"]}, "models[0].fallbacks[0]"),  # itself
        ({"fallbacks": ["b", "nope"]}, "models[0].fallbacks[1]"),  # no such route
        ({"fallbacks": "b"}, "models[0].fallbacks"),
        ({"retry": {"attempts": 0}}, "models[0].retry.attempts"),
        ({"retry": {"attempts": 6}}, "models[0].retry.attempts"),
        ({"retry": {"on_status": [99]}}, "models[0].retry.on_status"),
        ({"retry": {"backoff_ms": -1}}, "models[0].retry.backoff_ms"),
        ({"retry": {"max_wait_s": "5"}}, "models[0].retry.max_wait_s"),
        ({"retry": 3}, "models[0].retry"),
        ({"breaker": {"failures": 0}}, "models[0].breaker.failures"),
        ({"breaker": {"cooldown_s": 0}}, "models[0].breaker.cooldown_s"),
        ({"max_tokens_default": 0}, "models[0].max_tokens_default"),
        ({"mock_fail": {"status": 200}}, "models[0].mock_fail.status"),
    ],
)
def test_invalid_resilience_fields_name_the_field(first, field):
    with pytest.raises(ConfigError) as info:
        parse_tenant_config(_doc(**first))
    assert info.value.field == field


def test_the_default_route_may_not_name_an_unknown_fallback():
    with pytest.raises(ConfigError) as info:
        parse_tenant_config({"default": {"provider": "mock", "fallbacks": ["x"]}})
    assert info.value.field == "default.fallbacks[0]"
