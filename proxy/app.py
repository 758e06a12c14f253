"""create_app(): the one place that wires the app together; the runner gunicorn starts.

`create_app` puts the app-wide values on the app, lists the cleanup contexts of the
running mode (proxy.contexts: everything that opens a socket, a pool or a task does
it there, after the worker has forked, and closes it in reverse order at shutdown,
after in-flight requests have finished), mounts the admin API and adds the routes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractResolver

from proxy import contexts, keys
from proxy.admin.app import create_admin_app
from proxy.admin.config_api import config_document_handler
from proxy.admin.ui import create_ui_app, redirect_to_ui
from proxy.api import routes
from proxy.api.connection import GatewayServer
from proxy.ids import IdGenerator
from proxy.lifecycle import Lifecycle
from proxy.readiness import ReadinessCheck, StaticConfigCheck
from proxy.settings import Settings
from proxy.tasks import TaskSet
from proxy.telemetry.logs import configure_logging
from proxy.telemetry.metrics import Metrics
from proxy.tenancy.auth import Authenticator, OpenAccess
from proxy.tenancy.source import StaticSource
from proxy.tenancy.static import load_static_config
from proxy.throttled_log import RateLimitedLog
from proxy.usage_record import UsageSink
from proxy.worker import release_stop_signals, tune_gc

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
    app = web.Application(client_max_size=settings.server.max_body_bytes)
    app[keys.SETTINGS] = settings
    app[keys.IDS] = IdGenerator()
    app[keys.TASKS] = TaskSet()
    app[keys.LIFECYCLE] = Lifecycle()
    app[keys.METRICS] = Metrics(multiprocess_dir=settings.telemetry.prometheus_multiproc_dir)
    app[keys.UPSTREAM_WARNINGS] = RateLimitedLog(logging.getLogger("proxy.upstream"))
    if dns_resolver is not None:
        app[keys.DNS_RESOLVER] = dns_resolver
    # Cleanup runs in reverse: the sinks flush while Redis and the sessions are still open.
    ctxs: list[contexts.Context] = [contexts.tasks_ctx, contexts.http_ctx]
    if settings.redis.url:
        ctxs.append(contexts.redis_ctx)
    ctxs += [contexts.sinks_ctx(sinks), contexts.metrics_ctx]
    if settings.uses_store:
        ctxs.append(contexts.store_ctx)
    if settings.is_multi_tenant:
        ctxs.append(contexts.multi_tenant_ctx)
    else:
        _static_tenancy(app, settings)
    if settings.uses_store:
        ctxs.append(contexts.ledger_ctx)  # left after proxy_ctx and money_ctx: the last records
    app.cleanup_ctx.extend([*ctxs, contexts.money_ctx, contexts.proxy_ctx])
    if settings.auth.admin_key and settings.uses_store:
        # Before /admin/: the dashboard's files need no admin key (the page asks for it).
        app.router.add_get("/admin/ui", redirect_to_ui)
        app.add_subapp("/admin/ui/", create_ui_app())
    if settings.auth.admin_key and settings.is_multi_tenant:
        app.add_subapp(
            "/admin/", create_admin_app(settings.auth.admin_key, store=settings.uses_store)
        )
    api_keys = (settings.auth.admin_key, settings.tenancy.config_api_key)
    config = None
    if settings.uses_store and any(api_keys):
        config = config_document_handler(*api_keys)  # GET /users/{user_id}/config
    routes.setup(app, settings, config=config)
    return app


def _static_tenancy(app: web.Application, settings: Settings) -> None:
    """Static mode: the YAML is read now, so an invalid one stops the start."""
    static = load_static_config(settings.tenancy.config_path, settings.tenancy.environ)
    app[keys.TENANTS] = StaticSource(static.tenant)
    auth: Authenticator = static.verifier or OpenAccess()
    app[keys.AUTH] = auth
    checks: list[ReadinessCheck] = [StaticConfigCheck()]
    app[keys.READINESS] = checks


class GatewayRunner(web.AppRunner):
    """An AppRunner whose connections are `GatewayConnection`s: parser refusals
    answered as JSON, the `PROXY_REQUEST_TIMEOUT` deadline. The tests' servers
    use it too (tests/helpers.GatewayTestServer)."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # the app's startup; aiohttp's handler options
        return GatewayServer(made, request_timeout=self.app[keys.SETTINGS].server.request_timeout)


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
        drain_s=min(DRAIN_S, settings.server.graceful_timeout / 4),
        grace_s=max(settings.server.graceful_timeout - 1.0, settings.server.graceful_timeout * 0.9),
        handler_cancellation=True,
        access_log=None,
        keepalive_timeout=settings.server.keepalive_timeout,
        shutdown_timeout=settings.server.graceful_timeout * 0.95,
    )


async def create_runner() -> web.AppRunner:
    """gunicorn's entry point (`wsgi_app`): the app plus the server options it needs."""
    release_stop_signals()  # the loop runs now: a held SIGTERM is handled, not lost
    settings = Settings.from_env()
    configure_logging(settings.telemetry.log_level)
    return build_runner(await create_app(settings), settings)
