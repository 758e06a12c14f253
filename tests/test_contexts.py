"""The cleanup contexts, each on a bare app: what they open at startup and close at cleanup."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from proxy import contexts, keys
from proxy.lifecycle import Lifecycle
from proxy.settings import Settings
from proxy.tasks import TaskSet
from proxy.throttled_log import RateLimitedLog
from proxy.usage_record import FanOutSink
from tests.helpers import RecordingSink


def _app(*ctxs: contexts.Context, **env: str) -> web.Application:
    app = web.Application()
    app[keys.SETTINGS] = Settings.from_env(env)
    app[keys.TASKS] = TaskSet()
    app[keys.LIFECYCLE] = Lifecycle()
    app[keys.UPSTREAM_WARNINGS] = RateLimitedLog(logging.getLogger("proxy.upstream"))
    app.cleanup_ctx.extend(ctxs)
    return app


async def _start(app: web.Application) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()  # enters the cleanup contexts
    return runner


async def test_http_ctx_opens_both_sessions_and_closes_them():
    app = _app(contexts.http_ctx)
    runner = await _start(app)
    tenant, control = app[keys.HTTP], app[keys.CONTROL_HTTP]
    assert tenant is not control and not (tenant.closed or control.closed)
    await runner.cleanup()
    assert tenant.closed and control.closed


async def test_redis_ctx_opens_the_client_and_its_gate(redis_target, redis_client):
    app = _app(contexts.redis_ctx, **redis_target.env, REDIS_TIMEOUT="0.5")
    runner = await _start(app)
    try:
        assert await app[keys.REDIS_GATE].run(app[keys.REDIS].ping, "ping") is True
    finally:
        await runner.cleanup()


async def test_tasks_ctx_gives_tasks_the_grace_period_then_cancels_them():
    app = _app(contexts.tasks_ctx, PROXY_GRACEFUL_TIMEOUT="0.2")
    runner = await _start(app)
    finishing, stuck = asyncio.Event(), asyncio.Event()

    async def finishes() -> None:
        await finishing.wait()

    tasks = app[keys.TASKS]
    done = tasks.spawn(finishes(), name="finishes")
    hung = tasks.spawn(stuck.wait(), name="hung")
    finishing.set()
    await runner.cleanup()
    assert done.done() and not done.cancelled()
    assert hung.cancelled()


async def test_sinks_ctx_hands_records_to_the_extra_sinks_and_the_request_log():
    extra = RecordingSink()
    alone = _app(contexts.sinks_ctx([extra]), PROXY_REQUEST_LOG="0")
    runner = await _start(alone)
    assert alone[keys.SINK] is extra  # one sink: no fan-out in the way
    await runner.cleanup()

    logged = _app(contexts.sinks_ctx([extra]), PROXY_REQUEST_LOG="1")
    runner = await _start(logged)
    try:
        assert isinstance(logged[keys.SINK], FanOutSink)  # the extra sink and the request log
        assert keys.TELEMETRY not in logged  # no TELEMETRY_WEBHOOK_URL, no webhook
    finally:
        await runner.cleanup()
