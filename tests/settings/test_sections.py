"""Each section reads its own variables; defaults match an empty environment."""

from __future__ import annotations

import dataclasses

import pytest

from proxy.settings import Settings
from proxy.settings.reader import EnvReader, SettingsError
from proxy.settings.sections import (
    AuthSettings,
    MoneySettings,
    RedisSettings,
    ServerSettings,
    StoreSettings,
    TelemetrySettings,
    TenancySettings,
    UpstreamSettings,
)

SECTIONS = [
    ServerSettings,
    StoreSettings,
    UpstreamSettings,
    RedisSettings,
    TenancySettings,
    AuthSettings,
    TelemetrySettings,
    StoreSettings,
    MoneySettings,
]


@pytest.mark.parametrize("section", SECTIONS)
def test_an_empty_environment_gives_the_dataclass_defaults(section):
    read = section.read(EnvReader({"PROXY_WORKERS": "1"}))
    assert read == section()


@pytest.mark.parametrize("section", SECTIONS)
def test_sections_are_frozen(section):
    with pytest.raises(dataclasses.FrozenInstanceError):
        section().__setattr__(dataclasses.fields(section)[0].name, None)


def test_each_section_reads_its_variables():
    env = {
        "PROXY_PORT": "9001",
        "UPSTREAM_ALLOWED_HOSTS": "Vllm.Internal, other",
        "REDIS_URL": "redis://:pw@r:6379/0",
        "REDIS_TIMEOUT": "0.25",
        "CONFIG_API_URL": "http://cfg:8000/",
        "CONFIG_L1_SIZE": "5",
        "AUTH_MODE": "jwt",
        "PROXY_ADMIN_KEY": "adm",
        "TELEMETRY_WEBHOOK_URL": "http://hook/events",
        "TELEMETRY_BATCH_MAX": "50",
        "PROXY_LOG_LEVEL": "debug",
    }
    r = EnvReader(env)
    assert ServerSettings.read(r).port == 9001
    assert UpstreamSettings.read(r).allowed_hosts == frozenset({"vllm.internal", "other"})
    assert RedisSettings.read(r) == RedisSettings(url="redis://:pw@r:6379/0", timeout=0.25)
    tenancy = TenancySettings.read(r)
    assert (tenancy.config_api_url, tenancy.config_l1_size) == ("http://cfg:8000", 5)
    assert tenancy.environ["CONFIG_L1_SIZE"] == "5"
    auth = AuthSettings.read(r)
    assert (auth.mode, auth.admin_key) == ("token", "adm")  # "jwt" is read as "token"
    telemetry = TelemetrySettings.read(r)
    assert (telemetry.url, telemetry.batch_max, telemetry.log_level) == (
        "http://hook/events",
        50,
        "DEBUG",
    )


def test_secrets_stay_out_of_repr():
    s = Settings.from_env(
        {
            "REDIS_URL": "redis://:redis-pw@r/0",
            "CONFIG_API_URL": "http://cfg",
            "CONFIG_API_KEY": "cfg-key",
            "AUTH_JWT_SECRET": "jwt-secret",
            "PROXY_ADMIN_KEY": "admin-key",
            "TELEMETRY_WEBHOOK_SECRET": "hook-secret",
            "PROXY_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        }
    )
    text = repr(s)
    for secret in ("redis-pw", "cfg-key", "jwt-secret", "admin-key", "hook-secret", "MDEy"):
        assert secret not in text
    assert "TenancySettings(" in text and "http://cfg" in text


def test_the_money_section_reads_the_budget_variables_and_refuses_an_unknown_fail_mode():
    r = EnvReader(
        {
            "BUDGET_FAIL_MODE": "Closed",
            "BUDGET_DEFAULT_MAX_TOKENS": "1024",
            "BUDGET_RESERVATION_TTL": "60",
        }
    )
    money = MoneySettings.read(r)
    assert (money.fail_mode, money.fails_open) == ("closed", False)
    assert (money.default_max_tokens, money.reservation_ttl) == (1024, 60.0)
    assert Settings.from_env({}).money.fails_open  # open by default
    with pytest.raises(SettingsError, match="BUDGET_FAIL_MODE"):
        MoneySettings.read(EnvReader({"BUDGET_FAIL_MODE": "sometimes"}))


def test_the_store_section_reads_the_usage_buffer_and_refuses_zero():
    from proxy.settings import StoreSettings

    assert StoreSettings.read(EnvReader({"USAGE_BUFFER_MAX": "50"})).usage_buffer_max == 50
    assert Settings.from_env({}).store.usage_buffer_max == 10_000
    with pytest.raises(SettingsError, match="USAGE_BUFFER_MAX"):
        StoreSettings.read(EnvReader({"USAGE_BUFFER_MAX": "0"}))
