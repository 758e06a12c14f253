"""Process settings, read once from the environment.

`Settings.from_env()` is the only reader of `os.environ` in the package (the CLI
may set variables before it runs). Every value is cast and checked here, so a bad
variable stops the start with one line naming it.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from urllib.parse import urlsplit

from proxy.redaction import display_url
from proxy.store.url import DatabaseURLError, parse_database_url

MIB = 1024 * 1024
# A field holding a dependency's URL: its repr goes through `display_url`.
_URL = {"url": True}


class SettingsError(ValueError):
    """A variable has a value we cannot use; the message names it."""


STATIC, MULTI_TENANT = "static", "multi_tenant"


@dataclass(frozen=True, slots=True)
class Settings:
    mode: str = STATIC
    config_path: str = "./proxy.yaml"
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    graceful_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    request_timeout: float = 30.0
    max_requests: int = 0
    max_requests_jitter: int = 0
    max_body_bytes: int = 32 * MIB
    cors_allowed_origins: tuple[str, ...] = ()
    upstream_max_connections: int = 1000
    upstream_connect_timeout: float = 10.0
    request_log: bool = True
    log_level: str = "INFO"
    metrics_flush_interval: float = 1.0
    prometheus_multiproc_dir: str | None = None
    # Multi-tenant mode (SPEC sections 2, 4, 6).
    redis_url: str | None = field(default=None, metadata=_URL)
    redis_timeout: float = 0.5
    config_api_url: str | None = field(default=None, metadata=_URL)
    config_api_key: str | None = field(default=None, repr=False)
    config_api_timeout: float = 5.0
    config_cache_ttl: int = 3600
    config_l1_ttl: float = 30.0
    config_l1_size: int = 10_000
    config_negative_ttl: float = 5.0
    config_degraded_ttl: float = 5.0
    config_stale_if_error: float = 300.0
    encryption_keys: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    auth_mode: str = "token"  # or "none"
    auth_jwt_secret: str | None = field(default=None, repr=False)
    auth_jwt_public_key: str | None = field(default=None, repr=False)
    auth_jwt_leeway: float = 30.0
    auth_cache_ttl: float = 30.0
    admin_key: str | None = field(default=None, repr=False)
    upstream_allow_private: bool = False
    upstream_allowed_hosts: frozenset[str] = frozenset()
    # Built-in tenant store (SPEC 7, 7.1): parsed by proxy.store.url.parse_database_url.
    database_url: str | None = field(default=None, metadata=_URL)
    store_timeout: float = 5.0
    # Telemetry webhook (SPEC section 9).
    telemetry_url: str | None = field(default=None, metadata=_URL)
    telemetry_timeout: float = 1.0
    telemetry_batch_max: int = 1
    telemetry_secret: str | None = field(default=None, repr=False)
    telemetry_queue_size: int = 10_000
    telemetry_max_backoff: float = 5.0
    telemetry_spill_max: int = 1_000_000
    telemetry_config_hits: bool = True
    # Budgets and limits (SPEC 8, 8.1).
    budget_fail_mode: str = "open"  # or "closed": what a Redis outage does
    budget_default_max_tokens: int = 4096
    budget_reservation_ttl: float = 900.0
    # The environment as read at start, for `${VAR}` expansion in the static YAML.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        r = _Reader(env)
        mode = _mode(r)
        config_path = env.get("PROXY_CONFIG") or env.get("VIBEKIT_CONFIG") or "./proxy.yaml"
        auth_mode = r.choice("AUTH_MODE", ("token", "jwt", "none"), default="token")
        settings = cls(
            mode=mode,
            config_path=config_path,
            host=env.get("PROXY_HOST") or "0.0.0.0",
            port=r.integer("PROXY_PORT", 8080, low=0, high=65535),
            workers=r.integer("PROXY_WORKERS", os.cpu_count() or 1, low=1),
            graceful_timeout=r.seconds("PROXY_GRACEFUL_TIMEOUT", 30.0),
            keepalive_timeout=r.seconds("PROXY_KEEPALIVE_TIMEOUT", 75.0),
            request_timeout=r.seconds("PROXY_REQUEST_TIMEOUT", 30.0),
            max_requests=r.integer("PROXY_MAX_REQUESTS", 0),
            max_requests_jitter=r.integer("PROXY_MAX_REQUESTS_JITTER", 0),
            max_body_bytes=r.integer("PROXY_MAX_BODY_BYTES", 32 * MIB, low=1),
            cors_allowed_origins=r.csv("CORS_ALLOWED_ORIGINS"),
            upstream_max_connections=r.integer("UPSTREAM_MAX_CONNECTIONS", 1000, low=1),
            upstream_connect_timeout=r.seconds("UPSTREAM_CONNECT_TIMEOUT", 10.0),
            request_log=r.flag("PROXY_REQUEST_LOG", True),
            log_level=r.choice(
                "PROXY_LOG_LEVEL",
                ("DEBUG", "INFO", "WARNING", "ERROR"),
                default="INFO",
                upper=True,
            ),
            metrics_flush_interval=r.seconds("PROXY_METRICS_FLUSH_INTERVAL", 1.0),
            prometheus_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            redis_url=r.raw("REDIS_URL"),
            redis_timeout=r.seconds("REDIS_TIMEOUT", 0.5),
            config_api_url=(r.http_url("CONFIG_API_URL") or "").rstrip("/") or None,
            config_api_key=r.raw("CONFIG_API_KEY"),
            config_api_timeout=r.seconds("CONFIG_API_TIMEOUT", 5.0),
            config_cache_ttl=r.integer("CONFIG_CACHE_TTL", 3600, low=1),
            config_l1_ttl=r.seconds("CONFIG_L1_TTL", 30.0),
            config_l1_size=r.integer("CONFIG_L1_SIZE", 10_000, low=1),
            config_negative_ttl=r.seconds("CONFIG_NEGATIVE_TTL", 5.0),
            config_degraded_ttl=r.seconds("CONFIG_DEGRADED_TTL", 5.0),
            config_stale_if_error=r.seconds("CONFIG_STALE_IF_ERROR", 300.0),
            encryption_keys=_encryption_keys(r),
            auth_mode="none" if auth_mode == "none" else "token",
            auth_jwt_secret=r.raw("AUTH_JWT_SECRET"),
            auth_jwt_public_key=r.raw("AUTH_JWT_PUBLIC_KEY"),
            auth_jwt_leeway=r.seconds("AUTH_JWT_LEEWAY", 30.0),
            auth_cache_ttl=r.seconds("AUTH_CACHE_TTL", 30.0),
            admin_key=r.raw("PROXY_ADMIN_KEY"),
            upstream_allow_private=r.flag("UPSTREAM_ALLOW_PRIVATE", False),
            upstream_allowed_hosts=frozenset(h.lower() for h in r.csv("UPSTREAM_ALLOWED_HOSTS")),
            database_url=_database_url(r),
            store_timeout=r.seconds("STORE_TIMEOUT", 5.0),
            telemetry_url=r.http_url("TELEMETRY_WEBHOOK_URL"),
            telemetry_timeout=r.seconds("TELEMETRY_TIMEOUT", 1.0),
            telemetry_batch_max=r.integer("TELEMETRY_BATCH_MAX", 1, low=1, high=10_000),
            telemetry_secret=r.raw("TELEMETRY_WEBHOOK_SECRET"),
            telemetry_queue_size=r.integer("TELEMETRY_QUEUE_SIZE", 10_000, low=1),
            telemetry_max_backoff=r.seconds("TELEMETRY_MAX_BACKOFF", 5.0),
            telemetry_spill_max=r.integer("TELEMETRY_SPILL_MAX", 1_000_000, low=1),
            telemetry_config_hits=r.flag("TELEMETRY_CONFIG_HITS", True),
            budget_fail_mode=r.choice("BUDGET_FAIL_MODE", ("open", "closed"), default="open"),
            budget_default_max_tokens=r.integer("BUDGET_DEFAULT_MAX_TOKENS", 4096, low=0),
            budget_reservation_ttl=r.seconds("BUDGET_RESERVATION_TTL", 900.0),
            environ=MappingProxyType(dict(env)),
        )
        _check_multi_tenant(settings)
        return settings

    @classmethod
    def for_store_commands(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """What `db migrate` and `keys rotate` need (DATABASE_URL, STORE_TIMEOUT, the
        key ring), without the serving mode's checks."""
        r = _Reader(os.environ if environ is None else environ)
        if r.raw("DATABASE_URL") is None:
            raise SettingsError("DATABASE_URL is not set (sqlite:///file.db or mysql://...)")
        return cls(
            database_url=_database_url(r),
            store_timeout=r.seconds("STORE_TIMEOUT", 5.0),
            encryption_keys=_encryption_keys(r),
        )

    @property
    def is_multi_tenant(self) -> bool:
        return self.mode == MULTI_TENANT

    def __repr__(self) -> str:
        """Secrets are left out; URLs are shown without their credentials."""
        shown = []
        for f in fields(self):
            if f.repr:
                value = getattr(self, f.name)
                if f.metadata.get("url") and value is not None:
                    value = display_url(value)
                shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"


def _mode(r: _Reader) -> str:
    """SPEC section 2: detected from the environment, or forced with PROXY_MODE."""
    forced = r.choice("PROXY_MODE", (STATIC, MULTI_TENANT), default="")
    redis, api, database = r.raw("REDIS_URL"), r.raw("CONFIG_API_URL"), r.raw("DATABASE_URL")
    if forced == STATIC:
        return STATIC
    if database and not api:
        raise SettingsError(
            "DATABASE_URL is set: the built-in tenant store is not available in this "
            "version; use CONFIG_API_URL with REDIS_URL, or unset DATABASE_URL"
        )
    if forced == MULTI_TENANT or api:  # REDIS_URL alone is static mode with Redis
        if not api:
            raise SettingsError(
                "multi-tenant mode needs CONFIG_API_URL (the Config API's base URL)"
            )
        if not redis:
            raise SettingsError("multi-tenant mode needs REDIS_URL (the shared config cache)")
        return MULTI_TENANT
    return STATIC


def _check_multi_tenant(s: Settings) -> None:
    if s.config_api_key and s.config_api_url and _has_credentials(s.config_api_url):
        raise SettingsError(
            "CONFIG_API_URL holds credentials (user:pass@, sent as HTTP Basic auth) and "
            "CONFIG_API_KEY is set (sent as Bearer): only one Authorization can be sent; "
            "use one of them"
        )
    if not s.is_multi_tenant:
        return
    if s.auth_mode != "none" and not (s.auth_jwt_secret or s.auth_jwt_public_key):
        raise SettingsError(
            "multi-tenant mode needs client authentication: set AUTH_JWT_SECRET (HS256) or "
            "AUTH_JWT_PUBLIC_KEY (RS256/ES256/EdDSA), or AUTH_MODE=none behind a trusted network"
        )


def _has_credentials(url: str) -> bool:
    return display_url(url) != url


def _database_url(r: _Reader) -> str | None:
    raw = r.raw("DATABASE_URL")
    if raw is not None:
        try:
            parse_database_url(raw)
        except DatabaseURLError as e:
            raise SettingsError(str(e)) from None
    return raw


def _encryption_keys(r: _Reader) -> tuple[tuple[str, bytes], ...]:
    """PROXY_ENCRYPTION_KEYS=kid:b64,... (first encrypts) wins over PROXY_ENCRYPTION_KEY."""
    ring = r.raw("PROXY_ENCRYPTION_KEYS")
    name = "PROXY_ENCRYPTION_KEYS"
    if ring is None:
        single = r.raw("PROXY_ENCRYPTION_KEY")
        if single is None:
            return ()
        ring, name = "default:" + single, "PROXY_ENCRYPTION_KEY"
    keys: list[tuple[str, bytes]] = []
    for part in ring.split(","):
        kid, sep, b64 = part.strip().partition(":")
        if not sep or not kid or not kid.replace("-", "").replace("_", "").isalnum():
            raise SettingsError(f"{name}: each entry must be <key id>:<base64 key>")
        try:
            key = base64.b64decode(b64.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SettingsError(f"{name}: key {kid!r} is not valid base64") from None
        if len(key) != 32:
            raise SettingsError(f"{name}: key {kid!r} must be 32 bytes (base64 of 32 random bytes)")
        if any(kid == k for k, _ in keys):
            raise SettingsError(f"{name}: key id {kid!r} appears twice")
        keys.append((kid, key))
    return tuple(keys)


class _Reader:
    """Casts one variable at a time; errors name the variable and the bad value."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def raw(self, name: str) -> str | None:
        """The value, stripped; None when unset or blank."""
        value = self._env.get(name)
        return value.strip() if value is not None and value.strip() != "" else None

    def integer(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise SettingsError(f"{name}={raw!r} must be {bounds}")
        return value

    def seconds(self, name: str, default: float) -> float:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
        if not value > 0 or value == float("inf"):
            raise SettingsError(f"{name}={raw!r} must be a positive number of seconds")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.raw(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}={raw!r} must be 1/0, true/false, yes/no or on/off")

    def choice(
        self, name: str, allowed: tuple[str, ...], *, default: str, upper: bool = False
    ) -> str:
        raw = self.raw(name)
        if raw is None:
            return default
        value = raw.upper() if upper else raw.lower()
        if value not in allowed:
            raise SettingsError(f"{name}={raw!r} must be one of: {', '.join(allowed)}")
        return value

    def http_url(self, name: str) -> str | None:
        """An http(s) URL with a host; the value is not echoed (it may hold a token)."""
        raw = self.raw(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"{name} must be an http:// or https:// URL with a host")
        return raw

    def csv(self, name: str) -> tuple[str, ...]:
        raw = self.raw(name)
        if raw is None:
            return ()
        return tuple(part.strip() for part in raw.split(",") if part.strip())
