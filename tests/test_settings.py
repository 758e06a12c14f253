"""Settings come from the environment once; a bad value names its variable."""

from __future__ import annotations

import pytest

from proxy.settings import MIB, Settings, SettingsError


def test_defaults():
    s = Settings.from_env({})
    assert (s.mode, s.config_path, s.host, s.port) == ("static", "./proxy.yaml", "0.0.0.0", 8080)
    assert s.max_body_bytes == 32 * MIB
    assert s.cors_allowed_origins == ()


def test_vibekit_config_is_an_alias_and_proxy_config_wins():
    assert Settings.from_env({"VIBEKIT_CONFIG": "v.yaml"}).config_path == "v.yaml"
    assert (
        Settings.from_env({"VIBEKIT_CONFIG": "v.yaml", "PROXY_CONFIG": "p.yaml"}).config_path
        == "p.yaml"
    )


def test_values_are_cast():
    s = Settings.from_env(
        {
            "PROXY_PORT": "9000",
            "PROXY_WORKERS": "3",
            "PROXY_GRACEFUL_TIMEOUT": "2.5",
            "CORS_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "PROXY_REQUEST_LOG": "off",
        }
    )
    assert (s.port, s.workers, s.graceful_timeout, s.request_log) == (9000, 3, 2.5, False)
    assert s.cors_allowed_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROXY_PORT", "eighty"),
        ("PROXY_PORT", "70000"),
        ("PROXY_WORKERS", "0"),
        ("PROXY_MAX_BODY_BYTES", "-1"),
        ("PROXY_GRACEFUL_TIMEOUT", "soon"),
        ("PROXY_GRACEFUL_TIMEOUT", "0"),
        ("PROXY_REQUEST_LOG", "maybe"),
        ("PROXY_MODE", "cluster"),
    ],
)
def test_a_bad_value_names_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
