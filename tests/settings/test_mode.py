"""Mode detection (SPEC section 2)."""

from __future__ import annotations

import pytest

from proxy.settings.mode import MULTI_TENANT, STATIC, detect_mode
from proxy.settings.reader import EnvReader, SettingsError


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({}, STATIC),
        ({"REDIS_URL": "redis://r"}, STATIC),  # Redis alone: static mode with Redis
        ({"REDIS_URL": "redis://r", "CONFIG_API_URL": "http://c"}, MULTI_TENANT),
        ({"REDIS_URL": "redis://r", "CONFIG_API_URL": "http://c", "PROXY_MODE": "static"}, STATIC),
        ({"PROXY_MODE": "STATIC", "DATABASE_URL": "sqlite:///x.db"}, STATIC),
    ],
)
def test_detected_or_forced(env, mode):
    assert detect_mode(EnvReader(env)) == mode


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PROXY_MODE": "multi_tenant"}, "CONFIG_API_URL"),
        ({"PROXY_MODE": "multi_tenant", "CONFIG_API_URL": "http://c"}, "REDIS_URL"),
        ({"CONFIG_API_URL": "http://c"}, "REDIS_URL"),
        ({"DATABASE_URL": "sqlite:///x.db"}, "DATABASE_URL"),
        ({"PROXY_MODE": "cluster"}, "PROXY_MODE"),
    ],
)
def test_a_mode_that_cannot_run_names_what_is_missing(env, named):
    with pytest.raises(SettingsError, match=named):
        detect_mode(EnvReader(env))
