"""Every cleanup context of the app: what opens at startup and closes at shutdown.

`create_app` (proxy.app) lists them, in order, for the running mode. aiohttp enters
them after the worker has forked, in that order, and leaves them in reverse after
in-flight requests have finished (only those whose startup finished). Each reads the
settings and the resources of the contexts before it from the app, builds its
objects with explicit constructor arguments, and stores what others need under
`proxy.keys`. Nothing below this layer reads the app.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web

from proxy import keys
from proxy.accounting.cost import PriceBook
from proxy.accounting.ledger import ROW_SPILL_KEY, SPILL_KEY, UsageLedger
from proxy.accounting.local_quota import LocalQuota
from proxy.accounting.quota import QuotaAdmission
from proxy.accounting.redis_quota import RedisQuota
from proxy.accounting.settlement import Settlement
from proxy.api.proxy import ProxyHandler
from proxy.api.relay import Relay
from proxy.cache.configs import ConfigCache
from proxy.cache.invalidation import InvalidationSubscriber
from proxy.cache.redis_client import RedisCheck, close_redis, discover, open_redis
from proxy.database_url import parse_database_url
from proxy.event_types import SERVER_START, SERVER_STOP
from proxy.keyring import KeyRing
from proxy.providers import PROVIDERS
from proxy.readiness import ReadinessCheck
from proxy.redaction import display_url
from proxy.redis_gate import RedisGate
from proxy.redis_spill import RedisSpill
from proxy.settings import AuthSettings, Settings, TenancySettings
from proxy.store.open import open_store
from proxy.store.usage import UsageTable
from proxy.telemetry import events
from proxy.telemetry.logs import RequestLogSink
from proxy.telemetry.webhook import WebhookSink
from proxy.tenancy.auth import Authenticator, OpenAccess
from proxy.tenancy.changes import TenantChanges
from proxy.tenancy.config_api import ConfigAPIClient
from proxy.tenancy.proxy_tokens import ProxyTokens
from proxy.tenancy.resolver import TenantResolver
from proxy.tenancy.source import ConfigSource
from proxy.tenancy.store_source import StoreConfigSource
from proxy.tenancy.tokens import JWTVerifier, TokenAuthenticator
from proxy.upstream.breaker import Breakers
from proxy.upstream.exchange import Exchange
from proxy.upstream.guard import DestinationPolicy
from proxy.upstream.retry_budget import RetryBudget
from proxy.upstream.send import Send
from proxy.upstream.session import build_control_session, build_session
from proxy.usage_record import UsageSink, fan_out

log = logging.getLogger("proxy.app")

Context = Callable[[web.Application], AsyncIterator[None]]


async def tasks_ctx(app: web.Application) -> AsyncIterator[None]:
    """Background tasks get the grace period to finish; the rest are cancelled."""
    yield
    await app[keys.TASKS].close(grace=app[keys.SETTINGS].server.graceful_timeout)


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    """The tenant session (SSRF-guarded) and the control-plane session (proxy.upstream.session)."""
    settings = app[keys.SETTINGS]
    policy = DestinationPolicy(
        strict=settings.is_multi_tenant,
        allow_private=settings.upstream.allow_private,
        allowed_hosts=settings.upstream.allowed_hosts,
        warnings=app[keys.UPSTREAM_WARNINGS],
    )
    session = build_session(
        settings.upstream.max_connections,
        settings.upstream.connect_timeout,
        policy,
        app.get(keys.DNS_RESOLVER),
    )
    control = build_control_session(settings.upstream.connect_timeout)
    app[keys.HTTP] = session
    app[keys.CONTROL_HTTP] = control
    yield
    await session.close()
    await control.close()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """The worker's Redis client and the gate its calls go through."""
    settings = app[keys.SETTINGS]
    assert settings.redis.url is not None
    client = open_redis(settings.redis.url, settings.redis.timeout, cluster=settings.redis.cluster)
    app[keys.REDIS] = client
    app[keys.REDIS_GATE] = RedisGate(settings.redis.timeout)
    await discover(client)
    yield
    await close_redis(client)


def sinks_ctx(extra: Sequence[UsageSink]) -> Context:
    async def sinks_ctx(app: web.Application) -> AsyncIterator[None]:
        """Where usage records go: `extra`, the request log, the telemetry webhook."""
        settings = app[keys.SETTINGS]
        sinks: list[UsageSink] = list(extra)
        request_log = RequestLogSink() if settings.telemetry.request_log else None
        if request_log is not None:
            sinks.append(request_log)
        if request_log is not None and keys.METRICS in app:
            app[keys.METRICS].watch_total(
                "tenant_proxy_request_log_dropped",
                "Request log lines dropped while the log stream was stuck.",
                lambda: request_log.dropped,
            )
        webhook = _webhook(app) if settings.telemetry.url else None
        if webhook is not None:
            sinks.append(webhook)
            app[keys.TELEMETRY] = webhook
        app[keys.SINK] = fan_out(*sinks)
        tasks = app[keys.TASKS]
        flusher = tasks.spawn(request_log.run(), name="request-log") if request_log else None
        sender = tasks.spawn(webhook.run(), name="telemetry") if webhook else None
        if webhook is not None:
            webhook.event(SERVER_START, events.server_fields())
        yield
        if webhook is not None and sender is not None:
            webhook.event(SERVER_STOP, events.server_fields())
            grace = app[keys.LIFECYCLE].remaining(
                default_s=min(settings.server.graceful_timeout, 5.0)
            )
            await webhook.close(sender, grace)
        if flusher is not None:
            await _stop(flusher)

    return sinks_ctx


def _webhook(app: web.Application) -> WebhookSink:
    """The telemetry webhook on the control-plane session, its counters in the metrics."""
    s = app[keys.SETTINGS]
    webhook = WebhookSink(
        s.telemetry,
        mode=s.mode,
        session=app[keys.CONTROL_HTTP],
        ids=app[keys.IDS],
        tasks=app[keys.TASKS],
        redis=app.get(keys.REDIS),
        gate=app.get(keys.REDIS_GATE),
    )
    metrics = app[keys.METRICS]
    metrics.watch_counters(
        "tenant_proxy_telemetry_events",
        "Telemetry events by outcome (produced, delivered, retried, spilled, replayed, dropped).",
        "outcome",
        webhook.counters.as_dict,
    )
    metrics.watch_gauge(
        "tenant_proxy_telemetry_queued",
        "Telemetry events waiting in memory.",
        lambda: webhook.queued,
    )
    return webhook


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """Metrics move to prometheus-client's values every flush interval, and at the end."""
    metrics = app[keys.METRICS]
    task = app[keys.TASKS].spawn(
        metrics.run(app[keys.SETTINGS].telemetry.metrics_flush_interval), name="metrics-flush"
    )
    yield
    await _stop(task)


async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    """Built-in-store mode: the worker's tenant store (SQLite file or MySQL pool)."""
    s = app[keys.SETTINGS]
    assert s.store.database_url is not None
    url = parse_database_url(s.store.database_url)
    store = await open_store(url, _keyring(s.tenancy), store_timeout=s.store.timeout)
    app[keys.STORE] = store
    app[keys.USAGE] = UsageTable(store.backend, timeout=s.store.timeout)
    yield
    await store.close()


async def ledger_ctx(app: web.Application) -> AsyncIterator[None]:
    """Built-in-store mode: the usage ledger joins the usage sinks. Entered after the
    store and Redis, before money_ctx and proxy_ctx, so at shutdown it writes (or
    spills) the records of the last requests and settlements while both are open."""
    s = app[keys.SETTINGS]
    redis, gate = app.get(keys.REDIS), app.get(keys.REDIS_GATE)
    spill = row_spill = None
    if redis is not None and gate is not None:
        spill = RedisSpill(redis, gate, SPILL_KEY)
        row_spill = RedisSpill(redis, gate, ROW_SPILL_KEY)  # from workers before schema v4
    ledger = UsageLedger(
        app[keys.USAGE],
        buffer_max=s.store.usage_buffer_max,
        tasks=app[keys.TASKS],
        spill=spill,
        row_spill=row_spill,
    )
    app[keys.LEDGER] = ledger
    # First: it reads the record's fields before the request log serialises the record.
    # orjson reads a dataclass through its __dict__, and once that exists CPython 3.11
    # reads every attribute of the record the slow way (`usage_row`: 0.39 -> 1.07 us;
    # callgrind, c=50: 5,300 fewer instructions a request with the ledger first).
    app[keys.SINK] = fan_out(ledger, app[keys.SINK])
    metrics = app[keys.METRICS]
    metrics.watch_counters(
        "tenant_proxy_usage_records",
        "Usage ledger records by outcome (produced, written, spilled, replayed, dropped).",
        "outcome",
        ledger.counters.as_dict,
    )
    metrics.watch_gauge(
        "tenant_proxy_usage_pending",
        "Usage records in memory, not yet written to the store.",
        lambda: ledger.pending,
    )
    writer = app[keys.TASKS].spawn(ledger.run(), name="usage-ledger")
    yield
    grace = app[keys.LIFECYCLE].remaining(default_s=min(s.server.graceful_timeout, 5.0))
    await ledger.close(writer, grace)


async def multi_tenant_ctx(app: web.Application) -> AsyncIterator[None]:
    """Config resolution (L1 -> Redis -> the Config API or the store), its invalidation,
    client tokens. Without Redis (built-in-store mode only): L1 alone, no messages."""
    s = app[keys.SETTINGS]
    redis, gate = app.get(keys.REDIS), app.get(keys.REDIS_GATE)
    keyring = _keyring(s.tenancy)
    if keyring is None:
        log.info(
            "PROXY_ENCRYPTION_KEY is not set: tenant configs that hold an api_key are kept in "
            "each worker's memory only, never written to Redis"
        )
    source = _config_source(app)
    l2 = None
    if redis is not None and gate is not None:
        l2 = ConfigCache(redis, gate, ttl=s.tenancy.config_cache_ttl, keyring=keyring)
    resolver = TenantResolver(
        source=source,
        l2=l2,
        tasks=app[keys.TASKS],
        metrics=app[keys.METRICS],
        l1_size=s.tenancy.config_l1_size,
        l1_ttl=s.tenancy.config_l1_ttl,
        negative_ttl=s.tenancy.config_negative_ttl,
        degraded_ttl=s.tenancy.config_degraded_ttl,
        stale_if_error=s.tenancy.config_stale_if_error,
        events=app.get(keys.TELEMETRY),
    )
    tokens = None
    if s.uses_store:
        tokens = ProxyTokens(app[keys.STORE], tasks=app[keys.TASKS], cache_ttl=s.auth.cache_ttl)
    changes = TenantChanges(resolver, tokens)
    app[keys.TENANTS] = resolver
    app[keys.TENANT_RESOLVER] = resolver
    app[keys.CHANGES] = changes
    app[keys.AUTH] = _client_auth(s.auth, tokens)
    checks: list[ReadinessCheck] = [source]
    task = None
    if redis is not None and gate is not None:
        checks.insert(0, RedisCheck(redis, gate))
        subscriber = InvalidationSubscriber(
            redis,
            gate,
            on_invalidate=changes.drop_local,
            on_state=changes.set_subscribed,
            timeout=s.redis.timeout,
        )
        app[keys.INVALIDATION] = subscriber
        task = app[keys.TASKS].spawn(subscriber.run(), name="config-invalidation")
    app[keys.READINESS] = checks
    log.info(
        "multi-tenant mode",
        extra={
            **_source_display(s),
            "redis": redis is not None,
            "auth": s.auth.mode,
            "encryption": keyring is not None,
        },
    )
    yield
    if task is not None:
        await _stop(task)


def _config_source(app: web.Application) -> ConfigSource:
    s = app[keys.SETTINGS]
    if s.uses_store:
        return StoreConfigSource(app[keys.STORE])
    assert s.tenancy.config_api_url is not None
    return ConfigAPIClient(
        app[keys.CONTROL_HTTP],
        s.tenancy.config_api_url,
        api_key=s.tenancy.config_api_key,
        timeout=s.tenancy.config_api_timeout,
    )


def _source_display(s: Settings) -> dict[str, str]:
    """The config source for the start-up log, without credentials."""
    if s.uses_store and s.store.database_url is not None:
        return {"store": parse_database_url(s.store.database_url).display()}
    return {"config_api": display_url(s.tenancy.config_api_url or "")}


def _keyring(tenancy: TenancySettings) -> KeyRing | None:
    return KeyRing(tenancy.encryption_keys) if tenancy.encryption_keys else None


def _client_auth(auth: AuthSettings, proxy_tokens: ProxyTokens | None) -> Authenticator:
    """Multi-tenant clients present proxy tokens (built-in store) and/or JWTs, unless
    AUTH_MODE=none."""
    if auth.jwt_secret and len(auth.jwt_secret.encode()) < 32:
        log.warning(
            "AUTH_JWT_SECRET is shorter than 32 bytes: HS256 secrets should be 32+ random bytes"
        )
    if auth.mode == "none":
        return OpenAccess()
    verifiers = []
    if auth.jwt_secret or auth.jwt_public_key:
        verifiers.append(
            JWTVerifier(
                secret=auth.jwt_secret, public_key=auth.jwt_public_key, leeway=auth.jwt_leeway
            )
        )
    return TokenAuthenticator(verifiers, cache_ttl=auth.cache_ttl, proxy_tokens=proxy_tokens)


async def money_ctx(app: web.Application) -> AsyncIterator[None]:
    """Budgets and limits: in Redis when there is one (its loop runs here and settles
    what is owed at shutdown, while Redis is still open), else per process."""
    settings = app[keys.SETTINGS]
    if not settings.redis.url:
        app[keys.QUOTA] = LocalQuota()
        yield
        return
    quota = RedisQuota(
        app[keys.REDIS],
        app[keys.REDIS_GATE],
        fail_open=settings.money.fails_open,
        reservation_ttl=settings.money.reservation_ttl,
    )
    app[keys.QUOTA] = quota
    app[keys.METRICS].watch_counters(
        "tenant_proxy_budget_events",
        "Budget and limit events: admitted_locally and refused_unavailable (Redis down, "
        "BUDGET_FAIL_MODE open or closed), settle_retried, settle_dropped.",
        "outcome",
        lambda: quota.counters,
    )
    task = app[keys.TASKS].spawn(quota.run(), name="budget")
    yield
    await quota.close(task)  # in-flight requests have finished: settle what they left


async def proxy_ctx(app: web.Application) -> AsyncIterator[None]:
    """The /v1 handler and its stages (see proxy.api.proxy), entered last: it takes
    what the contexts before it opened."""
    settings = app[keys.SETTINGS]
    metrics = app[keys.METRICS]
    warnings = app[keys.UPSTREAM_WARNINGS]  # the guard's too (http_ctx)
    send = Send(
        app[keys.HTTP], connect_timeout=settings.upstream.connect_timeout, warnings=warnings
    )
    breakers = Breakers()  # per worker (SPEC 12): keyed by tenant and route
    metrics.watch_gauge(
        "tenant_proxy_breakers_open",
        "Circuit breakers open (or half-open) in this worker now.",
        breakers.open_count,
    )
    metrics.watch_total(
        "tenant_proxy_breakers_opened",
        "Times a circuit breaker opened.",
        lambda: breakers.opened,
    )
    prices = PriceBook()
    handler = ProxyHandler(
        tenants=app[keys.TENANTS],
        auth=app[keys.AUTH],
        admission=QuotaAdmission(
            app[keys.QUOTA],
            prices,
            default_max_tokens=settings.money.default_max_tokens,
            clock=time.time,
        ),
        exchange=Exchange(send, PROVIDERS, breakers=breakers, budget=RetryBudget()),
        relay=Relay(lifecycle=app[keys.LIFECYCLE], metrics=metrics, warnings=warnings),
        settlement=Settlement(
            prices=prices, metrics=metrics, sink=app[keys.SINK], quota=app[keys.QUOTA]
        ),
        ids=app[keys.IDS],
        metrics=metrics,
        max_body_bytes=settings.server.max_body_bytes,
        multi_tenant=settings.is_multi_tenant,
    )
    app[keys.PROXY] = handler.handle
    yield


async def _stop(task: asyncio.Task[Any]) -> None:
    """Cancel a loop task and wait for its final flush; re-cancel if a library
    swallowed the cancellation (see cache.invalidation._raise_if_cancelling)."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=1.0)
