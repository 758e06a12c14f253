"""The provider table: what a route may name, and what config parsing accepts."""

from __future__ import annotations

import pytest

from proxy.providers import DEFAULT_PROVIDER, PROVIDERS
from proxy.providers.mock import MockProvider
from proxy.tenancy.config import ConfigError, parse_tenant_config


def test_one_entry_per_provider_keyed_by_its_name():
    assert list(PROVIDERS) == ["openai", "anthropic", "mock"]
    assert all(name == entry.name for name, entry in PROVIDERS.items())
    assert DEFAULT_PROVIDER == "openai"


def test_only_the_in_process_provider_needs_no_api_base():
    local = {name for name, entry in PROVIDERS.items() if entry.local is not None}
    assert local == {name for name, entry in PROVIDERS.items() if entry.default_api_base}
    assert local == {"mock"}
    assert isinstance(PROVIDERS["mock"].local(), MockProvider)  # type: ignore[misc]


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_config_parsing_accepts_every_entry(name):
    config = parse_tenant_config({"default": {"provider": name, "api_base": "http://x"}})
    assert config.default is not None and config.default.provider == name


@pytest.mark.parametrize("name", ["cohere", "", ["openai"], None])
def test_config_parsing_refuses_anything_else(name):
    with pytest.raises(ConfigError) as info:
        parse_tenant_config({"default": {"provider": name, "api_base": "http://x"}})
    assert info.value.field == "default.provider"
    assert "openai, anthropic, mock" in str(info.value)
