"""create_app(): the one place that wires the app together.

Everything that opens a socket, a pool or a task does it in a cleanup context,
after the worker has forked, and closes it in reverse order at shutdown (after
in-flight requests have finished).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractResolver

from proxy import keys
from proxy.accounting.admission import AdmitAll
from proxy.accounting.cost import PriceBook
from proxy.accounting.records import FanOutSink, UsageSink
from proxy.accounting.settlement import Settlement
from proxy.api import routes
from proxy.api.connection import GatewayServer
from proxy.api.health import ReadinessCheck, StaticConfigCheck
from proxy.api.proxy import ProxyHandler
from proxy.api.relay import Relay
from proxy.cache.configs import ConfigCache
from proxy.cache.invalidation import InvalidationSubscriber
from proxy.cache.redis_client import RedisCheck, redis_ctx
from proxy.ids import IdGenerator
from proxy.keyring import KeyRing
from proxy.lifecycle import Lifecycle
from proxy.providers import PROVIDERS
from proxy.redaction import display_url
from proxy.serving import release_stop_signals, tune_gc
from proxy.settings import Settings
from proxy.tasks import TaskSet
from proxy.telemetry import events
from proxy.telemetry.logs import RateLimitedLog, RequestLogSink, configure_logging
from proxy.telemetry.metrics import Metrics
from proxy.telemetry.webhook import WebhookSink
from proxy.tenancy.auth import Authenticator, OpenAccess
from proxy.tenancy.config_api import ConfigAPIClient
from proxy.tenancy.resolver import TenantResolver
from proxy.tenancy.source import StaticSource
from proxy.tenancy.static import load_static_config
from proxy.tenancy.tokens import JWTVerifier, TokenAuthenticator
from proxy.upstream.breaker import Breakers
from proxy.upstream.exchange import Exchange
from proxy.upstream.retry_budget import RetryBudget
from proxy.upstream.send import Send
from proxy.upstream.session import http_ctx

log = logging.getLogger("proxy.app")

DRAIN_S = 0.5  # after the listener closes: long enough for a just-accepted request to land


async def create_app(
    settings: Settings | None = None,
    *,
    sinks: Sequence[UsageSink] = (),
    dns_resolver: AbstractResolver | None = None,
) -> web.Application:
    """The gateway app. `sinks` receive every usage record besides the request log;
    `dns_resolver` replaces the system resolver for tenant upstreams (tests)."""
    settings = settings or Settings.from_env()
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[keys.SETTINGS] = settings
    app[keys.IDS] = IdGenerator()
    app[keys.TASKS] = TaskSet()
    app[keys.LIFECYCLE] = Lifecycle()
    app[keys.METRICS] = Metrics(multiprocess_dir=settings.prometheus_multiproc_dir)
    app[keys.UPSTREAM_WARNINGS] = RateLimitedLog(logging.getLogger("proxy.upstream"))
    if dns_resolver is not None:
        app[keys.DNS_RESOLVER] = dns_resolver
    # Cleanup runs in reverse: the sinks flush while Redis and the sessions are still open.
    contexts: list[Callable[[web.Application], AsyncIterator[None]]] = [_tasks_ctx, http_ctx]
    if settings.redis_url:
        contexts.append(redis_ctx)
    contexts += [_sinks_ctx(sinks), _metrics_ctx]
    if settings.is_multi_tenant:
        contexts.append(_multi_tenant_ctx)
    else:
        static = load_static_config(settings.config_path, settings.environ)
        app[keys.TENANTS] = StaticSource(static.tenant)
        auth: Authenticator = static.verifier or OpenAccess()
        app[keys.AUTH] = auth
        checks: list[ReadinessCheck] = [StaticConfigCheck()]
        app[keys.READINESS] = checks
    app.cleanup_ctx.extend([*contexts, _proxy_ctx])
    routes.setup(app, settings)
    return app


class GatewayRunner(web.AppRunner):
    """An AppRunner whose connections are `GatewayConnection`s: parser refusals
    answered as JSON, the `PROXY_REQUEST_TIMEOUT` deadline. The tests' servers
    use it too (tests/helpers.GatewayTestServer)."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # the app's startup; aiohttp's handler options
        return GatewayServer(made, request_timeout=self.app[keys.SETTINGS].request_timeout)


class DrainingRunner(GatewayRunner):
    """A GatewayRunner whose shutdown loses no request.

    aiohttp stops listening and at once closes every connection without a request
    in progress, including one accepted a moment ago whose request is still on its
    way: that client sees a reset. This runner stops listening, then waits a short
    drain window in which such requests arrive and are served (with
    `Connection: close`, so keep-alive clients move on), then shuts down as usual:
    in-flight requests and streams get up to the grace period.
    """

    def __init__(
        self, app: web.Application, *, drain_s: float, grace_s: float, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self._drain_s = drain_s
        self._grace_s = grace_s

    async def setup(self) -> None:
        await super().setup()  # runs the app's startup: pools, caches, config
        tune_gc()

    async def cleanup(self) -> None:
        for site in list(self.sites):
            await site.stop()
        if self.server is not None:
            self.app[keys.LIFECYCLE].start_draining(self._grace_s)
            await asyncio.sleep(self._drain_s)
        await super().cleanup()


def build_runner(app: web.Application, settings: Settings) -> DrainingRunner:
    """`handler_cancellation`: a client disconnect cancels its handler, so a stalled
    upstream request is closed at once instead of at its next chunk."""
    return DrainingRunner(
        app,
        drain_s=min(DRAIN_S, settings.graceful_timeout / 4),
        grace_s=max(settings.graceful_timeout - 1.0, settings.graceful_timeout * 0.9),
        handler_cancellation=True,
        access_log=None,
        keepalive_timeout=settings.keepalive_timeout,
        shutdown_timeout=settings.graceful_timeout * 0.95,
    )


async def create_runner() -> web.AppRunner:
    """gunicorn's entry point (`wsgi_app`): the app plus the server options it needs."""
    release_stop_signals()  # the loop runs now: a held SIGTERM is handled, not lost
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    return build_runner(await create_app(settings), settings)


async def _tasks_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[keys.TASKS].close(grace=app[keys.SETTINGS].graceful_timeout)


def _sinks_ctx(extra: Sequence[UsageSink]) -> Callable[[web.Application], AsyncIterator[None]]:
    async def sinks_ctx(app: web.Application) -> AsyncIterator[None]:
        """Where usage records go: `extra`, the request log, the telemetry webhook."""
        settings = app[keys.SETTINGS]
        sinks: list[UsageSink] = list(extra)
        request_log = RequestLogSink() if settings.request_log else None
        if request_log is not None:
            sinks.append(request_log)
        webhook = _webhook(app) if settings.telemetry_url else None
        if webhook is not None:
            sinks.append(webhook)
            app[keys.TELEMETRY] = webhook
        sink: UsageSink = sinks[0] if len(sinks) == 1 else FanOutSink(sinks)
        app[keys.SINK] = sink
        tasks = app[keys.TASKS]
        flusher = tasks.spawn(request_log.run(), name="request-log") if request_log else None
        sender = tasks.spawn(webhook.run(), name="telemetry") if webhook else None
        if webhook is not None:
            webhook.event(events.SERVER_START, events.server_fields())
        yield
        if webhook is not None and sender is not None:
            webhook.event(events.SERVER_STOP, events.server_fields())
            grace = app[keys.LIFECYCLE].remaining(default_s=min(settings.graceful_timeout, 5.0))
            await webhook.close(sender, grace)
        if flusher is not None:
            await _stop(flusher)

    return sinks_ctx


def _webhook(app: web.Application) -> WebhookSink:
    s = app[keys.SETTINGS]
    assert s.telemetry_url is not None
    webhook = WebhookSink(
        app[keys.CONTROL_HTTP],
        s.telemetry_url,
        mode=s.mode,
        ids=app[keys.IDS],
        tasks=app[keys.TASKS],
        timeout=s.telemetry_timeout,
        batch_max=s.telemetry_batch_max,
        secret=s.telemetry_secret,
        queue_size=s.telemetry_queue_size,
        max_backoff=s.telemetry_max_backoff,
        spill_max=s.telemetry_spill_max,
        config_hits=s.telemetry_config_hits,
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


async def _metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    metrics = app[keys.METRICS]
    task = app[keys.TASKS].spawn(
        metrics.run(app[keys.SETTINGS].metrics_flush_interval), name="metrics-flush"
    )
    yield
    await _stop(task)


async def _multi_tenant_ctx(app: web.Application) -> AsyncIterator[None]:
    """Config resolution (L1 -> Redis -> Config API), its invalidation, client tokens."""
    s = app[keys.SETTINGS]
    assert s.config_api_url is not None
    redis, gate = app[keys.REDIS], app[keys.REDIS_GATE]
    keyring = KeyRing(s.encryption_keys) if s.encryption_keys else None
    if keyring is None:
        log.info(
            "PROXY_ENCRYPTION_KEY is not set: tenant configs that hold an api_key are kept in "
            "each worker's memory only, never written to Redis"
        )
    api = ConfigAPIClient(
        app[keys.CONTROL_HTTP],
        s.config_api_url,
        api_key=s.config_api_key,
        timeout=s.config_api_timeout,
    )
    resolver = TenantResolver(
        api=api,
        l2=ConfigCache(redis, gate, ttl=s.config_cache_ttl, keyring=keyring),
        tasks=app[keys.TASKS],
        metrics=app[keys.METRICS],
        l1_size=s.config_l1_size,
        l1_ttl=s.config_l1_ttl,
        negative_ttl=s.config_negative_ttl,
        degraded_ttl=s.config_degraded_ttl,
        stale_if_error=s.config_stale_if_error,
        events=app.get(keys.TELEMETRY),
    )
    subscriber = InvalidationSubscriber(
        redis,
        gate,
        on_invalidate=resolver.drop_local,
        on_state=resolver.set_subscribed,
        timeout=s.redis_timeout,
    )
    app[keys.TENANTS] = resolver
    app[keys.TENANT_RESOLVER] = resolver
    app[keys.INVALIDATION] = subscriber
    auth: Authenticator = OpenAccess()
    if s.auth_jwt_secret and len(s.auth_jwt_secret.encode()) < 32:
        log.warning(
            "AUTH_JWT_SECRET is shorter than 32 bytes: HS256 secrets should be 32+ random bytes"
        )
    if s.auth_mode != "none":
        verifier = JWTVerifier(
            secret=s.auth_jwt_secret, public_key=s.auth_jwt_public_key, leeway=s.auth_jwt_leeway
        )
        auth = TokenAuthenticator([verifier], cache_ttl=s.auth_cache_ttl)
    app[keys.AUTH] = auth
    checks: list[ReadinessCheck] = [RedisCheck(redis, gate), api]
    app[keys.READINESS] = checks
    task = app[keys.TASKS].spawn(subscriber.run(), name="config-invalidation")
    log.info(
        "multi-tenant mode",
        extra={
            "config_api": display_url(s.config_api_url),
            "auth": s.auth_mode,
            "encryption": keyring is not None,
        },
    )
    yield
    await _stop(task)


async def _proxy_ctx(app: web.Application) -> AsyncIterator[None]:
    """The /v1 handler and its stages (see proxy.api.proxy)."""
    settings = app[keys.SETTINGS]
    metrics = app[keys.METRICS]
    warnings = app[keys.UPSTREAM_WARNINGS]  # the guard's too (upstream.session)
    send = Send(
        app[keys.HTTP], connect_timeout=settings.upstream_connect_timeout, warnings=warnings
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
    app[keys.PROXY] = ProxyHandler(
        tenants=app[keys.TENANTS],
        auth=app[keys.AUTH],
        admission=AdmitAll(),
        exchange=Exchange(send, PROVIDERS, breakers=breakers, budget=RetryBudget()),
        relay=Relay(lifecycle=app[keys.LIFECYCLE], metrics=metrics, warnings=warnings),
        settlement=Settlement(prices=PriceBook(), metrics=metrics, sink=app[keys.SINK]),
        ids=app[keys.IDS],
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        multi_tenant=settings.is_multi_tenant,
    )
    yield


async def _stop(task: asyncio.Task[Any]) -> None:
    """Cancel a loop task and wait for its final flush; re-cancel if a library
    swallowed the cancellation (see cache.invalidation._raise_if_cancelling)."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=1.0)
