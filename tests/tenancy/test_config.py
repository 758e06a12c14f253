"""The one tenant-config validator: every source goes through it."""

from __future__ import annotations

import pytest

from proxy.errors import ModelNotAllowedError, ModelNotFoundError
from proxy.tenancy.config import ConfigError, parse_tenant_config

SPEC_EXAMPLE = {
    "models": [
        {
            "model_name": "gpt-4o-mini",
            "provider": "openai",
            "api_base": "https://api.openai.com",
            "api_key": "sk-x",
            "upstream_model": "gpt-4o-mini",
            "input_cost_per_mtok": 0.15,
            "output_cost_per_mtok": 0.60,
            "timeout_s": 600,
        },
        {
            "model_name": "claude-3-sonnet",
            "provider": "anthropic",
            "api_base": "https://api.anthropic.com",
        },
    ],
    "default": {"provider": "anthropic", "api_base": "https://api.anthropic.com"},
    "budget": {"monthly_usd": 100.0},
    "limits": {"rpm": 600, "tpm": 200000},
    "allowed_models": ["gpt-4o-mini", "claude-3-sonnet"],
    "some_future_field": {"ignored": True},
}


def test_the_spec_example_parses():
    config = parse_tenant_config(SPEC_EXAMPLE)
    route = config.route_for("gpt-4o-mini")
    assert (route.provider, route.api_base, route.api_key, route.timeout_s) == (
        "openai",
        "https://api.openai.com",
        "sk-x",
        600.0,
    )
    assert config.budget_monthly_usd == 100.0
    assert (config.limits_rpm, config.limits_tpm) == (600, 200000)
    assert config.route_for("claude-3-sonnet").provider == "anthropic"


def test_routing_rules():
    config = parse_tenant_config(SPEC_EXAMPLE)
    with pytest.raises(ModelNotAllowedError):
        config.route_for("gpt-4")  # the default exists, but allowed_models wins
    open_config = parse_tenant_config({**SPEC_EXAMPLE, "allowed_models": None})
    assert open_config.route_for("anything") is open_config.default
    assert open_config.route_for(None) is open_config.default
    no_default = parse_tenant_config({"models": SPEC_EXAMPLE["models"]})
    with pytest.raises(ModelNotFoundError):
        no_default.route_for("anything")
    with pytest.raises(ModelNotFoundError):
        no_default.route_for(None)


def test_provider_defaults_to_openai_and_mock_needs_no_base():
    config = parse_tenant_config(
        {
            "models": [
                {"model_name": "a", "api_base": "http://x:1/v1/"},
                {"model_name": "b", "provider": "mock"},
            ]
        }
    )
    assert config.route_for("a").provider == "openai"
    assert config.route_for("a").api_base == "http://x:1"
    assert config.route_for("b").is_mock


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "(document)"),
        ({"models": {}}, "models"),
        ({"models": [{"provider": "openai", "api_base": "http://x"}]}, "models[0].model_name"),
        ({"models": [{"model_name": "a", "provider": "openai"}]}, "models[0].api_base"),
        (
            {"models": [{"model_name": "a", "provider": "cohere", "api_base": "http://x"}]},
            "models[0].provider",
        ),
        ({"models": [{"model_name": "a", "api_base": "ftp://x"}]}, "models[0].api_base"),
        (
            {"models": [{"model_name": "a", "api_base": "http://x", "timeout_s": 0}]},
            "models[0].timeout_s",
        ),
        (
            {"models": [{"model_name": "a", "api_base": "http://x", "timeout_s": "10"}]},
            "models[0].timeout_s",
        ),
        (
            {"models": [{"model_name": "a", "api_base": "http://x", "input_cost_per_mtok": -1}]},
            "models[0].input_cost_per_mtok",
        ),
        (
            {"models": [{"model_name": "a", "api_base": "http://x", "api_key": 5}]},
            "models[0].api_key",
        ),
        (
            {
                "models": [
                    {"model_name": "a", "provider": "mock"},
                    {"model_name": "a", "provider": "mock"},
                ]
            },
            "models[1].model_name",
        ),
        ({"budget": {"monthly_usd": -5}}, "budget.monthly_usd"),
        ({"budget": {"monthly_usd": True}}, "budget.monthly_usd"),
        ({"limits": {"rpm": 1.5}}, "limits.rpm"),
        ({"limits": {"tpm": -1}}, "limits.tpm"),
        ({"allowed_models": "gpt-4o"}, "allowed_models"),
        ({"default": {"provider": "openai"}}, "default.api_base"),
    ],
)
def test_invalid_documents_name_the_field(doc, field):
    with pytest.raises(ConfigError) as info:
        parse_tenant_config(doc)
    assert info.value.field == field


def test_zero_budget_is_valid_and_fractional_timeouts_are_kept():
    config = parse_tenant_config(
        {
            "budget": {"monthly_usd": 0},
            "models": [{"model_name": "a", "provider": "mock", "timeout_s": 2.5}],
        }
    )
    assert config.budget_monthly_usd == 0.0
    assert config.route_for("a").timeout_s == 2.5
