"""Settings come from the environment once; a bad value names its variable."""

from __future__ import annotations

import pytest

from proxy.settings import MIB, Settings, SettingsError


def test_defaults():
    s = Settings.from_env({})
    assert (s.mode, s.tenancy.config_path, s.server.host, s.server.port) == (
        "static",
        "./proxy.yaml",
        "0.0.0.0",
        8080,
    )
    assert s.server.max_body_bytes == 32 * MIB
    assert s.server.cors_allowed_origins == ()
    assert (s.tenancy.config_degraded_ttl, s.tenancy.config_stale_if_error) == (5.0, 300.0)
    assert s.server.request_timeout == 30.0


def test_vibekit_config_is_an_alias_and_proxy_config_wins():
    assert Settings.from_env({"VIBEKIT_CONFIG": "v.yaml"}).tenancy.config_path == "v.yaml"
    assert (
        Settings.from_env(
            {"VIBEKIT_CONFIG": "v.yaml", "PROXY_CONFIG": "p.yaml"}
        ).tenancy.config_path
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
            "CONFIG_DEGRADED_TTL": "0.2",
            "CONFIG_STALE_IF_ERROR": "1.5",
            "PROXY_REQUEST_TIMEOUT": "0.5",
        }
    )
    assert (s.tenancy.config_degraded_ttl, s.tenancy.config_stale_if_error) == (0.2, 1.5)
    assert (
        s.server.port,
        s.server.workers,
        s.server.graceful_timeout,
        s.telemetry.request_log,
    ) == (9000, 3, 2.5, False)
    assert s.server.request_timeout == 0.5
    assert s.server.cors_allowed_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROXY_PORT", "eighty"),
        ("PROXY_PORT", "70000"),
        ("PROXY_WORKERS", "0"),
        ("PROXY_MAX_BODY_BYTES", "-1"),
        ("PROXY_GRACEFUL_TIMEOUT", "soon"),
        ("PROXY_GRACEFUL_TIMEOUT", "0"),
        ("PROXY_REQUEST_TIMEOUT", "0"),
        ("PROXY_REQUEST_LOG", "maybe"),
        ("PROXY_MODE", "cluster"),
        ("TELEMETRY_WEBHOOK_URL", "receiver:9000/events"),
        ("TELEMETRY_WEBHOOK_URL", "ftp://receiver/events"),
        ("TELEMETRY_BATCH_MAX", "0"),
        ("TELEMETRY_TIMEOUT", "-1"),
        ("TELEMETRY_CONFIG_HITS", "sometimes"),
        ("CONFIG_DEGRADED_TTL", "0"),
        ("CONFIG_STALE_IF_ERROR", "forever"),
    ],
)
def test_a_bad_value_names_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


MT = {
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "CONFIG_API_URL": "http://cfg:8000/",
    "AUTH_JWT_SECRET": "s",
}


def test_a_config_api_url_without_a_scheme_is_refused_without_echoing_it():
    with pytest.raises(SettingsError, match="CONFIG_API_URL must be an http") as caught:
        Settings.from_env({**MT, "CONFIG_API_URL": "cfg.internal/users?token=s3cret"})
    assert "s3cret" not in str(caught.value)


def test_multi_tenant_is_detected_and_static_stays_the_default():
    s = Settings.from_env(MT)
    assert (s.mode, s.tenancy.config_api_url) == ("multi_tenant", "http://cfg:8000")
    assert Settings.from_env({"REDIS_URL": "redis://x"}).mode == "static"  # Redis alone: static
    assert Settings.from_env({**MT, "PROXY_MODE": "static"}).mode == "static"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PROXY_MODE": "multi_tenant"}, "CONFIG_API_URL"),
        ({"CONFIG_API_URL": "http://cfg", "AUTH_JWT_SECRET": "s"}, "REDIS_URL"),
        ({"REDIS_URL": "redis://x", "CONFIG_API_URL": "http://cfg"}, "AUTH_JWT_SECRET"),
        ({**MT, "PROXY_ENCRYPTION_KEY": "not base64!"}, "PROXY_ENCRYPTION_KEY"),
        ({**MT, "PROXY_ENCRYPTION_KEY": "c2hvcnQ="}, "PROXY_ENCRYPTION_KEY"),
        (
            {**MT, "PROXY_ENCRYPTION_KEYS": "a:" + "A" * 44 + ",a:" + "A" * 44},
            "PROXY_ENCRYPTION_KEYS",
        ),
        ({"DATABASE_URL": "mysql://u:p@h"}, "DATABASE_URL"),
        ({"REDIS_CLUSTER": "1"}, "REDIS_URL"),
        ({"REDIS_CLUSTER": "1", "REDIS_URL": "redis://h:7000/2"}, "REDIS_URL names a database"),
        ({"REDIS_CLUSTER": "yes please", "REDIS_URL": "redis://h:7000"}, "REDIS_CLUSTER"),
    ],
)
def test_missing_or_bad_multi_tenant_settings_are_named(env, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_redis_cluster_takes_the_url_as_a_seed_node():
    assert not Settings.from_env({"REDIS_URL": "redis://h:7000"}).redis.cluster
    for url in ("redis://h:7000", "redis://h:7000/", "redis://h:7000/0", "rediss://h:7000?db=0"):
        redis = Settings.from_env({"REDIS_URL": url, "REDIS_CLUSTER": "1"}).redis
        assert redis.cluster and redis.url == url


def test_encryption_key_ring():
    key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
    single = Settings.from_env({**MT, "PROXY_ENCRYPTION_KEY": key})
    assert [kid for kid, _ in single.tenancy.encryption_keys] == ["default"]
    ring = Settings.from_env(
        {**MT, "PROXY_ENCRYPTION_KEY": key, "PROXY_ENCRYPTION_KEYS": f"new:{key},default:{key}"}
    )
    assert [kid for kid, _ in ring.tenancy.encryption_keys] == ["new", "default"]  # the ring wins
    assert "MDEyMzQ1" not in repr(ring)


def test_settings_repr_shows_dependency_urls_without_credentials():
    from proxy.settings import Settings

    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://default:canary-r@127.0.0.1:6379/2",
            "CONFIG_API_URL": "http://cfg:canary-c@127.0.0.1:9/",
            "TELEMETRY_WEBHOOK_URL": "http://hook:canary-t@127.0.0.1:9/events",
            "AUTH_MODE": "none",
        }
    )
    shown = repr(settings)
    assert "canary" not in shown
    assert "config_api_url='http://***@127.0.0.1:9'" in shown
    assert "RedisSettings(url='redis://***@127.0.0.1:6379/2'" in shown
    assert settings.tenancy.config_api_url == "http://cfg:canary-c@127.0.0.1:9"  # still used


def test_config_api_credentials_and_key_together_are_refused():
    from proxy.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="CONFIG_API_KEY") as caught:
        Settings.from_env(
            {
                "REDIS_URL": "redis://127.0.0.1:6379/2",
                "CONFIG_API_URL": "http://cfg:canary@127.0.0.1:9",
                "CONFIG_API_KEY": "k",
                "AUTH_MODE": "none",
            }
        )
    assert "canary" not in str(caught.value)


def test_built_in_store_mode_needs_no_redis_and_no_jwt_variable():
    from proxy.serving import startup_banner

    s = Settings.from_env({"DATABASE_URL": "mysql://u:s3cret@db:3306/tenants"})
    assert s.mode == "multi_tenant" and s.uses_store
    banner = "\n".join(startup_banner(s))
    assert "built-in store mysql://***@db:3306/tenants" in banner and "s3cret" not in banner
    api = Settings.from_env({**MT, "DATABASE_URL": "sqlite:///t.db"})
    assert not api.uses_store  # CONFIG_API_URL wins: the store is not opened
