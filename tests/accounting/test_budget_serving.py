"""Budgets and limits for real: gunicorn with two workers sharing one Redis.

What a finance team checks: exactly the requests the budget covers are forwarded,
the month's counter in Redis equals the sum of the costs recorded for them, no
reservation is left behind, and a restart keeps the month's spend. RPM holds
exactly across the workers.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from aiohttp import web

from proxy.accounting.quota_script import reserved_key, spend_key
from tests.helpers import WebhookReceiver, free_port, spawn_logged, wait_until_answering

pytestmark = pytest.mark.slow

BODY = b'{"model":"metered","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}'
ESTIMATE = math.ceil(len(BODY) / 4) + 50  # micro-USD at one USD per million tokens
FITS = 37


class ExactUpstream:
    """Answers with exactly the usage the proxy estimated (so the bound is 0), once
    `hold` requests are in flight together: reservations overlap for real."""

    def __init__(self, hold: int) -> None:
        self.hold = hold
        self.served = 0
        self._all_in = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.served += 1
        if self.served >= self.hold:
            self._all_in.set()
        async with asyncio.timeout(20):
            await self._all_in.wait()
        usage = {
            "prompt_tokens": math.ceil(len(body) / 4),
            "completion_tokens": orjson.loads(body)["max_tokens"],
        }
        return web.json_response({"choices": [], "usage": usage})


@pytest.fixture
async def receiver(aiohttp_server: Any) -> WebhookReceiver:
    receiver = WebhookReceiver()
    server = await aiohttp_server(receiver.app())
    receiver.url = str(server.make_url("/events"))
    return receiver


async def _upstream(aiohttp_server: Any, upstream: ExactUpstream) -> str:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", upstream.handle)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


@asynccontextmanager
async def serving(tmp_path: Path, doc: dict[str, Any], **env: str) -> AsyncIterator[str]:
    """`tenant-proxy serve`, two workers, static mode with Redis (REDIS_URL in `env`); SIGTERM at the end
    (a clean shutdown flushes the settlements)."""
    config = tmp_path / "proxy.yaml"
    config.write_text(yaml.safe_dump(doc))
    port = free_port()
    environ = {
        **os.environ,
        "PROXY_CONFIG": str(config),
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(port),
        "PROXY_WORKERS": "2",
        "PROXY_GRACEFUL_TIMEOUT": "5",
        "PROXY_REQUEST_LOG": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        **env,
    }
    (tmp_path / "metrics").mkdir(exist_ok=True)
    proc = await spawn_logged(
        tmp_path, str(Path(sys.executable).with_name("tenant-proxy")), "serve", env=environ
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_answering(url, proc, tmp_path)
        yield url
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _doc(upstream_url: str, **extra: Any) -> dict[str, Any]:
    route = {
        "model_name": "metered",
        "provider": "openai",
        "api_base": upstream_url,
        "api_key": "sk-up",
        "input_cost_per_mtok": 1.0,
        "output_cost_per_mtok": 1.0,
    }
    return {"models": [route], **extra}


async def _post_all(url: str, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """`count` requests at once, each on its own connection (both workers get some)."""
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> tuple[int, dict[str, str], bytes]:
            async with session.post(
                url + "/v1/chat/completions",
                data=BODY,
                headers={"Content-Type": "application/json"},
            ) as resp:
                return resp.status, dict(resp.headers), await resp.read()

        return await asyncio.gather(*(one() for _ in range(count)))


def _month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


async def test_200_concurrent_requests_against_a_budget_for_37(
    tmp_path, aiohttp_server, redis_target, redis_client, receiver
):
    upstream = ExactUpstream(hold=FITS)
    doc = _doc(
        await _upstream(aiohttp_server, upstream), budget={"monthly_usd": FITS * ESTIMATE / 1e6}
    )
    env = {"TELEMETRY_WEBHOOK_URL": receiver.url, "TELEMETRY_BATCH_MAX": "100", **redis_target.env}
    async with serving(tmp_path, doc, **env) as url:
        answers = await _post_all(url, 200)
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] * FITS + [429] * (200 - FITS)
    assert upstream.served == FITS  # exactly the requests that fit were forwarded
    refused = [(h, orjson.loads(b)) for s, h, b in answers if s == 429]
    assert {e["error"]["code"] for _, e in refused} == {"budget_exceeded"}
    assert all(0 < int(h["Retry-After"]) <= 31 * 86400 for h, _ in refused)
    events = await receiver.wait_for(
        lambda ev: len([e for e in ev if e["event_type"] == "request_processed"]) == 200
    )
    costs = [e["cost_usd"] for e in events if e["event_type"] == "request_processed"]
    recorded = sum(round(c * 1_000_000) for c in costs if c is not None)
    spent = int(await redis_client.get(spend_key("static", _month())))
    assert recorded == spent == FITS * ESTIMATE  # the bound is 0: the estimate was exact
    assert await redis_client.get(reserved_key("static", _month())) is None

    # A restart keeps the month's spend: the budget is still used up.
    async with serving(tmp_path, doc, **redis_target.env) as url:
        [(status, headers, body)] = await _post_all(url, 1)
    assert status == 429 and orjson.loads(body)["error"]["code"] == "budget_exceeded"
    assert upstream.served == FITS


async def test_rpm_is_exact_across_two_workers(
    tmp_path, aiohttp_server, redis_target, redis_client
):
    upstream = ExactUpstream(hold=1)
    doc = _doc(await _upstream(aiohttp_server, upstream), limits={"rpm": 7})
    async with serving(tmp_path, doc, **redis_target.env) as url:
        answers = await _post_all(url, 20)
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] * 7 + [429] * 13
    assert upstream.served == 7
    for status, headers, body in answers:
        if status == 429:
            assert orjson.loads(body)["error"]["code"] == "rate_limited"
            assert 1 <= int(headers["Retry-After"]) <= 60
