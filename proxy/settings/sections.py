"""The sections of `Settings`: one frozen dataclass per concern, each with its variables.

A component takes the section it needs (`WebhookSink` takes `TelemetrySettings`)
instead of a keyword argument per variable. Each section's `read()` casts and checks
its own variables through an `EnvReader`; defaults are the dataclass defaults, so a
section built in a test without the environment gets the same values. Each field's
metadata (`env(...)`, proxy.settings.variables) names and describes its variables:
docs/configuration.md is rendered from it. Secrets are kept out of `repr()`; a
dependency's URL (`env(..., url=True)`) is shown there through `display_url`, without
its credentials.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from proxy.database_url import DatabaseURLError, parse_database_url
from proxy.redaction import display_url
from proxy.settings.reader import EnvReader, SettingsError
from proxy.settings.variables import NO_VARIABLE, Variable, env

MIB = 1024 * 1024


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

    host: str = field(
        default="0.0.0.0",
        metadata=env("PROXY_HOST", "The address to listen on (`serve` and `serve --dev`)."),
    )
    port: int = field(default=8080, metadata=env("PROXY_PORT", "The port to listen on."))
    workers: int = field(
        default=1,
        metadata=env(
            "PROXY_WORKERS",
            "gunicorn worker processes, each with its own event loop and upstream pool.",
            default="the CPU count",
        ),
    )
    graceful_timeout: float = field(
        default=30.0,
        metadata=env(
            "PROXY_GRACEFUL_TIMEOUT",
            "At shutdown (SIGTERM, worker recycling), how long in-flight requests and "
            "streams may take, then telemetry is flushed; gunicorn kills a worker after "
            "this many seconds, rounded up. An orchestrator must wait longer (Kubernetes: "
            "`terminationGracePeriodSeconds` ≥ the `preStop` sleep + this + a margin).",
        ),
    )
    keepalive_timeout: float = field(
        default=75.0,
        metadata=env(
            "PROXY_KEEPALIVE_TIMEOUT",
            "How long an idle client connection is kept open. Keep it above your load "
            "balancer's idle timeout (nginx `keepalive_timeout`, AWS ALB 60 s).",
        ),
    )
    request_timeout: float = field(
        default=30.0,
        metadata=env(
            "PROXY_REQUEST_TIMEOUT",
            "How long a request's headers and body may take to arrive, from its first "
            "byte; then 408 `request_timeout` and the connection is closed.",
        ),
    )
    max_requests: int = field(
        default=0,
        metadata=env(
            "PROXY_MAX_REQUESTS",
            "gunicorn recycles a worker after this many requests (0: never); "
            "recycling is graceful.",
        ),
    )
    max_requests_jitter: int = field(
        default=0,
        metadata=env(
            "PROXY_MAX_REQUESTS_JITTER",
            "A random 0..N added to `PROXY_MAX_REQUESTS` per worker, so workers do not "
            "recycle together.",
        ),
    )
    max_body_bytes: int = field(
        default=32 * MIB,
        metadata=env(
            "PROXY_MAX_BODY_BYTES",
            "Largest request body, after gzip/deflate decoding; larger is 413 `request_too_large`.",
            default="33554432 (32 MiB)",
        ),
    )
    cors_allowed_origins: tuple[str, ...] = field(
        default=(),
        metadata=env(
            "CORS_ALLOWED_ORIGINS",
            "Origins browsers may call from (`*` allowed); preflights are answered "
            "without touching a tenant's config.",
            default="unset (CORS off)",
        ),
    )

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

    max_connections: int = field(
        default=1000,
        metadata=env(
            "UPSTREAM_MAX_CONNECTIONS",
            "Open connections to the providers, per worker (all tenants share the pool).",
        ),
    )
    connect_timeout: float = field(
        default=10.0,
        metadata=env(
            "UPSTREAM_CONNECT_TIMEOUT",
            "TCP and TLS connect timeout to a provider, capped by the route's `timeout_s`.",
        ),
    )
    allow_private: bool = field(
        default=False,
        metadata=env(
            "UPSTREAM_ALLOW_PRIVATE",
            "Multi-tenant mode: let tenants' routes reach loopback and private addresses "
            "(never link-local or cloud metadata). For self-hosted models on your network.",
        ),
    )
    allowed_hosts: frozenset[str] = field(
        default=frozenset(),
        metadata=env(
            "UPSTREAM_ALLOWED_HOSTS",
            "Multi-tenant mode: host names (as written in `api_base`) that may resolve to "
            "private addresses; narrower than `UPSTREAM_ALLOW_PRIVATE`.",
            default="unset",
        ),
    )

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

    url: str | None = field(
        default=None,
        metadata=env(
            "REDIS_URL",
            "Redis (`redis://[:password@]host:6379/0`, `rediss://` for TLS): the shared "
            "config cache, invalidation, budgets and RPM/TPM across workers and replicas, "
            "token revocation, the telemetry spill. Required with `CONFIG_API_URL`.",
            secret=True,
            url=True,
        ),
    )
    timeout: float = field(
        default=0.5,
        metadata=env(
            "REDIS_TIMEOUT",
            "Bound on every Redis call; after a failure Redis is skipped for 1 s.",
        ),
    )
    cluster: bool = field(
        default=False,
        metadata=env(
            "REDIS_CLUSTER",
            "`1`: `REDIS_URL` is a seed node of a Redis Cluster (redis-py's cluster client;"
            " every key a script touches is hash-tagged by tenant).",
        ),
    )

    @classmethod
    def read(cls, r: EnvReader) -> RedisSettings:
        url, cluster = r.raw("REDIS_URL"), r.flag("REDIS_CLUSTER", False)
        if cluster and not url:
            raise SettingsError("REDIS_CLUSTER=1 needs REDIS_URL (a seed node of the cluster)")
        if cluster and url and _names_a_database(url):
            raise SettingsError(
                "REDIS_URL names a database, but a Redis Cluster has only database 0 "
                "(REDIS_CLUSTER=1): drop the /<db> from the URL"
            )
        return cls(url=url, timeout=r.seconds("REDIS_TIMEOUT", 0.5), cluster=cluster)


def _names_a_database(url: str) -> bool:
    """redis://host:port/3 (or ?db=3) names database 3; / and /0 are database 0."""
    parsed = urlsplit(url)
    db = parsed.path.strip("/") or dict(parse_qsl(parsed.query)).get("db", "0")
    return db not in ("", "0")


@dataclass(frozen=True, slots=True)
class TenancySettings:
    """Where tenant configs come from (static YAML or the Config API) and how they are cached."""

    __repr__ = _repr

    config_path: str = field(
        default="./proxy.yaml",
        metadata=env(
            "PROXY_CONFIG",
            "Static mode: the YAML tenant document (read at start).",
            aliases=("VIBEKIT_CONFIG",),
            kind="path",
        ),
    )
    config_api_url: str | None = field(  # stored without a final /
        default=None,
        metadata=env(
            "CONFIG_API_URL",
            "The Config API's base URL; selects multi-tenant mode with a Config API. "
            "`user:pass@` in it is sent as HTTP Basic auth.",
            url=True,
        ),
    )
    config_api_key: str | None = field(
        default=None,
        repr=False,
        metadata=env(
            "CONFIG_API_KEY",
            "Sent to the Config API as `Authorization: Bearer`. In built-in-store mode it "
            "may call the gateway's own `GET /users/{id}/config`, as the admin key may.",
            secret=True,
        ),
    )
    config_api_timeout: float = field(
        default=5.0, metadata=env("CONFIG_API_TIMEOUT", "Bound on one Config API call.")
    )
    config_cache_ttl: int = field(
        default=3600,
        metadata=env("CONFIG_CACHE_TTL", "Seconds a config stays in Redis (L2)."),
    )
    config_l1_ttl: float = field(
        default=30.0,
        metadata=env(
            "CONFIG_L1_TTL",
            "Seconds a config stays in a worker's memory (L1) before Redis is asked again.",
        ),
    )
    config_l1_size: int = field(
        default=10_000, metadata=env("CONFIG_L1_SIZE", "Configs kept per worker (LRU).")
    )
    config_negative_ttl: float = field(
        default=5.0,
        metadata=env(
            "CONFIG_NEGATIVE_TTL",
            'How long "no config" or "invalid config" is remembered (L1 only).',
        ),
    )
    config_degraded_ttl: float = field(  # L1 freshness while invalidations cannot arrive
        default=5.0,
        metadata=env(
            "CONFIG_DEGRADED_TTL",
            "While Redis is down, an L1 entry older than this is refreshed before use.",
        ),
    )
    config_stale_if_error: float = field(
        default=300.0,
        metadata=env(
            "CONFIG_STALE_IF_ERROR",
            "How long an L1 entry keeps serving after its first failed refresh.",
        ),
    )
    # PROXY_ENCRYPTION_KEYS, or PROXY_ENCRYPTION_KEY as the key id "default".
    encryption_keys: tuple[tuple[str, bytes], ...] = field(
        default=(),
        repr=False,
        metadata=env(
            "PROXY_ENCRYPTION_KEYS",
            "Key ring `kid:base64,kid2:base64` (32-byte keys): the first seals, all open. "
            "AES-256-GCM for upstream keys in the store and configs in Redis. Wins over "
            "`PROXY_ENCRYPTION_KEY`.",
            secret=True,
            kind="key ring",
            more=(
                Variable(
                    "PROXY_ENCRYPTION_KEY",
                    "One AES-256 key (base64 of 32 random bytes: `openssl rand -base64 "
                    "32`), key id `default`.",
                    secret=True,
                    kind="base64 key",
                ),
            ),
        ),
    )
    # The environment as read at start, for `${VAR}` expansion in the static YAML.
    environ: Mapping[str, str] = field(
        default_factory=dict, repr=False, compare=False, metadata=NO_VARIABLE
    )

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

    mode: str = field(  # "jwt" is read as "token"
        default="token",
        metadata=env(
            "AUTH_MODE",
            "Multi-tenant client authentication: `token` (JWTs, proxy tokens) or `none` "
            "(trusted networks only; `jwt` is read as `token`).",
            kind="`token`, `none`",
        ),
    )
    jwt_secret: str | None = field(
        default=None,
        repr=False,
        metadata=env("AUTH_JWT_SECRET", "HS256 secret for client JWTs.", secret=True),
    )
    jwt_public_key: str | None = field(
        default=None,
        repr=False,
        metadata=env(
            "AUTH_JWT_PUBLIC_KEY",
            "RS256, ES256 or EdDSA public key for client JWTs (PEM text or a file path).",
        ),
    )
    jwt_leeway: float = field(
        default=30.0, metadata=env("AUTH_JWT_LEEWAY", "Clock-skew leeway for `exp`.")
    )
    cache_ttl: float = field(
        default=30.0,
        metadata=env(
            "AUTH_CACHE_TTL",
            "How long a worker trusts a verified token (JWT or proxy token): without "
            "Redis, the bound on a revocation reaching other workers.",
        ),
    )
    admin_key: str | None = field(
        default=None,
        repr=False,
        metadata=env(
            "PROXY_ADMIN_KEY",
            "Enables `/admin/...` (Bearer); without it those paths are 404. The "
            "management commands send it too.",
            secret=True,
        ),
    )

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

    request_log: bool = field(
        default=True,
        metadata=env(
            "PROXY_REQUEST_LOG",
            "One JSON line per request on stderr, written in batches from a thread: a slow"
            " log pipe never delays requests; past 100,000 waiting lines new ones are dropped"
            " and counted in `tenant_proxy_request_log_dropped_total`.",
        ),
    )
    log_level: str = field(
        default="INFO",
        metadata=env("PROXY_LOG_LEVEL", "Log level.", kind="`DEBUG`, `INFO`, `WARNING`, `ERROR`"),
    )
    metrics_flush_interval: float = field(
        default=1.0,
        metadata=env(
            "PROXY_METRICS_FLUSH_INTERVAL",
            "Seconds between a worker's metric flushes to the shared metrics directory.",
        ),
    )
    prometheus_multiproc_dir: str | None = field(
        default=None,
        metadata=env(
            "PROMETHEUS_MULTIPROC_DIR",
            "Where workers share their metrics (cleaned at start). The gateway's only "
            "write besides the temp directory: with a read-only root, mount a tmpfs or "
            "emptyDir here.",
            default="a fresh directory under `TMPDIR`",
            kind="path",
        ),
    )
    url: str | None = field(  # none: no webhook
        default=None,
        metadata=env(
            "TELEMETRY_WEBHOOK_URL",
            "Where events are POSTed ([telemetry.md](telemetry.md)). `user:pass@` in it is sent as "
            "HTTP Basic auth.",
            url=True,
        ),
    )
    timeout: float = field(
        default=1.0, metadata=env("TELEMETRY_TIMEOUT", "Bound on one webhook POST.")
    )
    batch_max: int = field(
        default=1,
        metadata=env(
            "TELEMETRY_BATCH_MAX",
            "Events per POST, 1..10000; above 1 every POST is a JSON array.",
        ),
    )
    secret: str | None = field(
        default=None,
        repr=False,
        metadata=env(
            "TELEMETRY_WEBHOOK_SECRET",
            "Adds `X-Telemetry-Signature: sha256=<hex HMAC-SHA256 of the body>`.",
            secret=True,
        ),
    )
    queue_size: int = field(
        default=10_000,
        metadata=env("TELEMETRY_QUEUE_SIZE", "Events kept in memory per worker."),
    )
    max_backoff: float = field(
        default=5.0,
        metadata=env("TELEMETRY_MAX_BACKOFF", "Longest wait between delivery retries."),
    )
    spill_max: int = field(
        default=1_000_000,
        metadata=env(
            "TELEMETRY_SPILL_MAX",
            "Events the Redis list `telemetry:spill` keeps (the newest).",
        ),
    )
    config_hits: bool = field(
        default=True,
        metadata=env(
            "TELEMETRY_CONFIG_HITS",
            "`0` stops `config_cache_hit` events (one per request in multi-tenant mode).",
        ),
    )

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
    """Budgets and RPM/TPM limits: estimates, reservations, Redis outages."""

    __repr__ = _repr

    fail_mode: str = field(
        default="open",
        metadata=env(
            "BUDGET_FAIL_MODE",
            "What a Redis outage does to tenants with a budget or limits: `open` admits "
            "against each process's own counters, `closed` refuses with 503 "
            "`budget_unavailable`.",
            kind="`open`, `closed`",
        ),
    )
    default_max_tokens: int = field(
        default=4096,
        metadata=env(
            "BUDGET_DEFAULT_MAX_TOKENS",
            "Output tokens a budget reserves for a request that names no `max_tokens`.",
        ),
    )
    reservation_ttl: float = field(
        default=900.0,
        metadata=env(
            "BUDGET_RESERVATION_TTL",
            "Seconds a tenant's reservations outlive its last reservation (a crashed "
            "worker's are released then).",
        ),
    )

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
    """The built-in tenant store: which database, and how long a call may take."""

    __repr__ = _repr

    # checked by proxy.database_url.parse_database_url
    database_url: str | None = field(
        default=None,
        metadata=env(
            "DATABASE_URL",
            "The built-in tenant store: `sqlite:///file.db` (relative), "
            "`sqlite:////abs/path.db` or `mysql://user:pass@host:3306/db`. Without "
            "`CONFIG_API_URL` it selects built-in-store mode.",
            secret=True,
            url=True,
        ),
    )
    timeout: float = field(
        default=5.0,
        metadata=env("STORE_TIMEOUT", "Bound on every store call (then 503 `store_unavailable`)."),
    )
    usage_buffer_max: int = field(
        default=10_000,
        metadata=env(
            "USAGE_BUFFER_MAX",
            "Usage records a worker holds in memory while the store is away (built-in-store"
            " mode); more spill to Redis.",
        ),
    )

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
