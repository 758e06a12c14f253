"""The sections of `Settings`: one frozen dataclass per concern, each with its variables.

A component takes the section it needs (`WebhookSink` takes `TelemetrySettings`)
instead of a keyword argument per variable. Each section's `read()` casts and checks
its own variables through an `EnvReader`; defaults are the dataclass defaults, so a
section built in a test without the environment gets the same values. Secrets are
kept out of `repr()`; a dependency's URL (`metadata=_URL`) is shown there through
`display_url`, without its credentials.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from proxy.database_url import DatabaseURLError, parse_database_url
from proxy.redaction import display_url
from proxy.settings.reader import EnvReader, SettingsError

MIB = 1024 * 1024
# A field holding a dependency's URL: its repr goes through `display_url`.
_URL = {"url": True}


def _repr(section: Any) -> str:
    """A section's repr: secrets (repr=False) are left out; URLs are shown without
    their credentials. Every section uses it, so a URL field is safe in any of them."""
    shown = []
    for f in fields(section):
        if f.repr:
            value = getattr(section, f.name)
            if f.metadata.get("url") and value is not None:
                value = display_url(value)
            shown.append(f"{f.name}={value!r}")
    return f"{type(section).__name__}({', '.join(shown)})"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The listener and its workers (gunicorn and `serve --dev`), and what a request may send."""

    __repr__ = _repr

    host: str = "0.0.0.0"  # PROXY_HOST
    port: int = 8080  # PROXY_PORT
    workers: int = 1  # PROXY_WORKERS (read: the CPU count when unset)
    graceful_timeout: float = 30.0  # PROXY_GRACEFUL_TIMEOUT
    keepalive_timeout: float = 75.0  # PROXY_KEEPALIVE_TIMEOUT
    request_timeout: float = 30.0  # PROXY_REQUEST_TIMEOUT: first byte to complete body
    max_requests: int = 0  # PROXY_MAX_REQUESTS
    max_requests_jitter: int = 0  # PROXY_MAX_REQUESTS_JITTER
    max_body_bytes: int = 32 * MIB  # PROXY_MAX_BODY_BYTES
    cors_allowed_origins: tuple[str, ...] = ()  # CORS_ALLOWED_ORIGINS

    @classmethod
    def read(cls, r: EnvReader) -> ServerSettings:
        return cls(
            host=r.verbatim("PROXY_HOST") or "0.0.0.0",
            port=r.integer("PROXY_PORT", 8080, low=0, high=65535),
            workers=r.integer("PROXY_WORKERS", os.cpu_count() or 1, low=1),
            graceful_timeout=r.seconds("PROXY_GRACEFUL_TIMEOUT", 30.0),
            keepalive_timeout=r.seconds("PROXY_KEEPALIVE_TIMEOUT", 75.0),
            request_timeout=r.seconds("PROXY_REQUEST_TIMEOUT", 30.0),
            max_requests=r.integer("PROXY_MAX_REQUESTS", 0),
            max_requests_jitter=r.integer("PROXY_MAX_REQUESTS_JITTER", 0),
            max_body_bytes=r.integer("PROXY_MAX_BODY_BYTES", 32 * MIB, low=1),
            cors_allowed_origins=r.csv("CORS_ALLOWED_ORIGINS"),
        )


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    """The tenant-traffic session: pool size, connect timeout, the SSRF guard's exemptions."""

    __repr__ = _repr

    max_connections: int = 1000  # UPSTREAM_MAX_CONNECTIONS
    connect_timeout: float = 10.0  # UPSTREAM_CONNECT_TIMEOUT
    allow_private: bool = False  # UPSTREAM_ALLOW_PRIVATE
    allowed_hosts: frozenset[str] = frozenset()  # UPSTREAM_ALLOWED_HOSTS (lower-cased)

    @classmethod
    def read(cls, r: EnvReader) -> UpstreamSettings:
        return cls(
            max_connections=r.integer("UPSTREAM_MAX_CONNECTIONS", 1000, low=1),
            connect_timeout=r.seconds("UPSTREAM_CONNECT_TIMEOUT", 10.0),
            allow_private=r.flag("UPSTREAM_ALLOW_PRIVATE", False),
            allowed_hosts=frozenset(h.lower() for h in r.csv("UPSTREAM_ALLOWED_HOSTS")),
        )


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """The worker's Redis client: where, and how long any one call may take."""

    __repr__ = _repr

    url: str | None = field(default=None, metadata=_URL)  # REDIS_URL (may hold a password)
    timeout: float = 0.5  # REDIS_TIMEOUT

    @classmethod
    def read(cls, r: EnvReader) -> RedisSettings:
        return cls(url=r.raw("REDIS_URL"), timeout=r.seconds("REDIS_TIMEOUT", 0.5))


@dataclass(frozen=True, slots=True)
class TenancySettings:
    """Where tenant configs come from (static YAML or the Config API) and how they are cached."""

    __repr__ = _repr

    config_path: str = "./proxy.yaml"  # PROXY_CONFIG, alias VIBEKIT_CONFIG
    config_api_url: str | None = field(default=None, metadata=_URL)  # CONFIG_API_URL, no final /
    config_api_key: str | None = field(default=None, repr=False)  # CONFIG_API_KEY
    config_api_timeout: float = 5.0  # CONFIG_API_TIMEOUT
    config_cache_ttl: int = 3600  # CONFIG_CACHE_TTL (L2, Redis)
    config_l1_ttl: float = 30.0  # CONFIG_L1_TTL
    config_l1_size: int = 10_000  # CONFIG_L1_SIZE
    config_negative_ttl: float = 5.0  # CONFIG_NEGATIVE_TTL
    config_degraded_ttl: float = 5.0  # CONFIG_DEGRADED_TTL (L1 freshness while unsubscribed)
    config_stale_if_error: float = 300.0  # CONFIG_STALE_IF_ERROR
    # PROXY_ENCRYPTION_KEYS, or PROXY_ENCRYPTION_KEY as the key id "default".
    encryption_keys: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    # The environment as read at start, for `${VAR}` expansion in the static YAML.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def read(cls, r: EnvReader) -> TenancySettings:
        return cls(
            config_path=r.verbatim("PROXY_CONFIG")
            or r.verbatim("VIBEKIT_CONFIG")
            or "./proxy.yaml",
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
            environ=r.snapshot(),
        )

    @classmethod
    def read_keys(cls, r: EnvReader) -> TenancySettings:
        """Only the key ring (the store commands read nothing else of this section)."""
        return cls(encryption_keys=_encryption_keys(r))


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Who may call: client tokens (multi-tenant mode) and the admin API's key."""

    __repr__ = _repr

    mode: str = "token"  # AUTH_MODE: "token" ("jwt" is read as "token") or "none"
    jwt_secret: str | None = field(default=None, repr=False)  # AUTH_JWT_SECRET
    jwt_public_key: str | None = field(default=None, repr=False)  # AUTH_JWT_PUBLIC_KEY
    jwt_leeway: float = 30.0  # AUTH_JWT_LEEWAY
    cache_ttl: float = 30.0  # AUTH_CACHE_TTL
    admin_key: str | None = field(default=None, repr=False)  # PROXY_ADMIN_KEY

    @classmethod
    def read(cls, r: EnvReader) -> AuthSettings:
        mode = r.choice("AUTH_MODE", ("token", "jwt", "none"), default="token")
        return cls(
            mode="none" if mode == "none" else "token",
            jwt_secret=r.raw("AUTH_JWT_SECRET"),
            jwt_public_key=r.raw("AUTH_JWT_PUBLIC_KEY"),
            jwt_leeway=r.seconds("AUTH_JWT_LEEWAY", 30.0),
            cache_ttl=r.seconds("AUTH_CACHE_TTL", 30.0),
            admin_key=r.raw("PROXY_ADMIN_KEY"),
        )


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """What the gateway tells about itself: logs, metrics, the telemetry webhook."""

    __repr__ = _repr

    request_log: bool = True  # PROXY_REQUEST_LOG
    log_level: str = "INFO"  # PROXY_LOG_LEVEL
    metrics_flush_interval: float = 1.0  # PROXY_METRICS_FLUSH_INTERVAL
    prometheus_multiproc_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR
    url: str | None = field(default=None, metadata=_URL)  # TELEMETRY_WEBHOOK_URL (none: no webhook)
    timeout: float = 1.0  # TELEMETRY_TIMEOUT, per POST
    batch_max: int = 1  # TELEMETRY_BATCH_MAX
    secret: str | None = field(default=None, repr=False)  # TELEMETRY_WEBHOOK_SECRET
    queue_size: int = 10_000  # TELEMETRY_QUEUE_SIZE
    max_backoff: float = 5.0  # TELEMETRY_MAX_BACKOFF
    spill_max: int = 1_000_000  # TELEMETRY_SPILL_MAX
    config_hits: bool = True  # TELEMETRY_CONFIG_HITS

    @classmethod
    def read(cls, r: EnvReader) -> TelemetrySettings:
        return cls(
            request_log=r.flag("PROXY_REQUEST_LOG", True),
            log_level=r.choice(
                "PROXY_LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), default="INFO", upper=True
            ),
            metrics_flush_interval=r.seconds("PROXY_METRICS_FLUSH_INTERVAL", 1.0),
            prometheus_multiproc_dir=r.verbatim("PROMETHEUS_MULTIPROC_DIR"),
            url=r.http_url("TELEMETRY_WEBHOOK_URL"),
            timeout=r.seconds("TELEMETRY_TIMEOUT", 1.0),
            batch_max=r.integer("TELEMETRY_BATCH_MAX", 1, low=1, high=10_000),
            secret=r.raw("TELEMETRY_WEBHOOK_SECRET"),
            queue_size=r.integer("TELEMETRY_QUEUE_SIZE", 10_000, low=1),
            max_backoff=r.seconds("TELEMETRY_MAX_BACKOFF", 5.0),
            spill_max=r.integer("TELEMETRY_SPILL_MAX", 1_000_000, low=1),
            config_hits=r.flag("TELEMETRY_CONFIG_HITS", True),
        )


@dataclass(frozen=True, slots=True)
class MoneySettings:
    """Budgets and RPM/TPM limits (SPEC 8, 8.1): estimates, reservations, Redis outages."""

    __repr__ = _repr

    fail_mode: str = "open"  # BUDGET_FAIL_MODE: open (per-process counters) or closed (503)
    default_max_tokens: int = 4096  # BUDGET_DEFAULT_MAX_TOKENS
    reservation_ttl: float = 900.0  # BUDGET_RESERVATION_TTL, seconds

    @property
    def fails_open(self) -> bool:
        return self.fail_mode == "open"

    @classmethod
    def read(cls, r: EnvReader) -> MoneySettings:
        return cls(
            fail_mode=r.choice("BUDGET_FAIL_MODE", ("open", "closed"), default="open"),
            default_max_tokens=r.integer("BUDGET_DEFAULT_MAX_TOKENS", 4096),
            reservation_ttl=r.seconds("BUDGET_RESERVATION_TTL", 900.0),
        )


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """The built-in tenant store (SPEC 7, 7.1): which database, and how long a call may take."""

    __repr__ = _repr

    # DATABASE_URL, checked by proxy.database_url.parse_database_url (may hold a password)
    database_url: str | None = field(default=None, metadata=_URL)
    timeout: float = 5.0  # STORE_TIMEOUT
    usage_buffer_max: int = 10_000  # USAGE_BUFFER_MAX: usage records a worker holds in memory

    @classmethod
    def read(cls, r: EnvReader) -> StoreSettings:
        return cls(
            database_url=_database_url(r),
            timeout=r.seconds("STORE_TIMEOUT", 5.0),
            usage_buffer_max=r.integer("USAGE_BUFFER_MAX", 10_000, low=1),
        )


def _database_url(r: EnvReader) -> str | None:
    """DATABASE_URL as given, once it parses; the error names it, never the password."""
    raw = r.raw("DATABASE_URL")
    if raw is not None:
        try:
            parse_database_url(raw)
        except DatabaseURLError as e:
            raise SettingsError(str(e)) from None
    return raw


def _encryption_keys(r: EnvReader) -> tuple[tuple[str, bytes], ...]:
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
