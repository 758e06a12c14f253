"""`tenant-proxy serve` for real: gunicorn, two uvloop workers, signals."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.helpers import free_port, spawn_logged, wait_until_answering

pytestmark = pytest.mark.slow

CHUNKS = 6


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _environ(tmp_path: Path, config: Path, **env: str) -> dict[str, str]:
    """Two workers on a free loopback port, metrics in tmp_path."""
    return {
        **os.environ,
        "PROXY_CONFIG": str(config),
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(free_port()),
        "PROXY_WORKERS": "2",
        "PROXY_GRACEFUL_TIMEOUT": "15",
        "PROXY_METRICS_FLUSH_INTERVAL": "0.2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        **env,
    }


async def _fast_requests(url: str, count: int) -> None:
    """`count` mock-model requests, each on a new connection (so both workers get some)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for _ in range(count):
            async with session.post(url + "/v1/chat/completions", json={"model": "fast"}) as resp:
                assert resp.status == 200


@asynccontextmanager
async def serving(
    tmp_path: Path, upstream_url: str, **env: str
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    config = tmp_path / "proxy.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "models": [
                    {
                        "model_name": "slow",
                        "provider": "openai",
                        "api_base": upstream_url,
                        "api_key": "sk-up",
                    },
                    {"model_name": "fast", "provider": "mock"},
                ]
            }
        )
    )
    environ = _environ(tmp_path, config, **env)
    proc = await spawn_logged(tmp_path, _bin("tenant-proxy"), "serve", env=environ)
    url = f"http://127.0.0.1:{environ['PROXY_PORT']}"
    try:
        await wait_until_answering(url, proc, tmp_path)
        yield url, proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _log(tmp_path: Path, name: str) -> str:
    return (tmp_path / name).read_text()


@pytest.fixture
async def slow_upstream(aiohttp_server):
    async def stream(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(CHUNKS):
            await resp.write(b'data: {"choices":[{"delta":{"content":"%d"}}]}\n\n' % i)
            await asyncio.sleep(0.3)  # scripted pacing: the stream outlives the SIGTERM
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", stream)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


async def test_sigterm_lets_an_in_flight_stream_finish(tmp_path, slow_upstream):
    async with serving(tmp_path, slow_upstream) as (url, proc):
        async with aiohttp.ClientSession() as session:
            for _ in range(4):
                async with session.post(
                    url + "/v1/chat/completions", json={"model": "fast"}
                ) as resp:
                    assert resp.status == 200
            async with session.post(
                url + "/v1/chat/completions", json={"model": "slow", "stream": True}
            ) as resp:
                assert resp.status == 200
                first = await resp.content.readuntil(b"\n\n")
                assert b'"content":"0"' in first
                proc.send_signal(signal.SIGTERM)
                rest = await resp.content.read()
        assert rest.count(b"data: ") == CHUNKS  # chunks 1..5 and [DONE]
        assert rest.endswith(b"data: [DONE]\n\n")
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        assert f"listening on {url}" in _log(tmp_path, "out.log")


async def test_sigterm_while_workers_boot_stops_them_promptly(tmp_path):
    config = tmp_path / "proxy.yaml"
    config.write_text(yaml.safe_dump({"models": [{"model_name": "fast", "provider": "mock"}]}))
    environ = _environ(tmp_path, config, PROXY_GRACEFUL_TIMEOUT="30")
    proc = await spawn_logged(tmp_path, _bin("tenant-proxy"), "serve", env=environ)
    try:
        for _ in range(300):  # the workers fork, then spend a while importing the app
            if _log(tmp_path, "err.log").count("Booting worker") == 2:
                break
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        # A signal a booting worker lost would keep it serving until gunicorn killed it
        # at the 30 s graceful timeout.
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert _log(tmp_path, "err.log").count("Worker exiting") == 2


async def test_metrics_are_summed_across_workers_including_recycled_ones(tmp_path, slow_upstream):
    async with serving(tmp_path, slow_upstream, PROXY_MAX_REQUESTS="8") as (url, proc):
        await _fast_requests(url, 30)
        async with aiohttp.ClientSession() as session:
            total, pids = 0.0, set()
            for _ in range(100):  # workers flush every 0.2 s and recycle within ~1 s
                async with session.get(url + "/metrics") as resp:
                    text = await resp.text()
                found = re.search(
                    r'tenant_proxy_requests_total\{model="fast",status="200"\} (\S+)', text
                )
                total = float(found.group(1)) if found else 0.0
                pids = {n.rsplit("_", 1)[-1] for n in os.listdir(tmp_path / "metrics")}
                if total == 30 and len(pids) >= 3:
                    break
                await asyncio.sleep(0.1)
        # Three or more processes wrote counts (two workers and a replacement), and the
        # sum is exact: a recycled worker's counts are neither lost nor counted twice.
        assert len(pids) >= 3 and total == 30


async def test_worker_recycling_loses_no_request(tmp_path, slow_upstream):
    async with serving(tmp_path, slow_upstream, PROXY_MAX_REQUESTS="40") as (url, proc):
        statuses: list[int] = []
        pids: set[str] = set()
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True)
        ) as session:
            while len(pids) < 4 and len(statuses) < 5000:  # until two workers were replaced
                async with session.post(
                    url + "/v1/chat/completions", json={"model": "fast"}
                ) as resp:
                    await resp.read()
                    statuses.append(resp.status)
                pids = {n.rsplit("_", 1)[-1] for n in os.listdir(tmp_path / "metrics")}
        assert len(pids) >= 4
        assert set(statuses) == {200}
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        assert "Max requests, shutting down" in _log(tmp_path, "err.log")  # really recycled


async def test_sigterm_flushes_every_workers_telemetry(tmp_path, slow_upstream, receiver):
    env = {"TELEMETRY_WEBHOOK_URL": receiver.url, "TELEMETRY_BATCH_MAX": "10"}
    async with serving(tmp_path, slow_upstream, **env) as (url, proc):
        await _fast_requests(url, 30)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    requests = receiver.of_type("request_processed")
    assert len({e["event_id"] for e in requests}) == 30
    starts, stops = receiver.of_type("server_start"), receiver.of_type("server_stop")
    assert len(starts) == 2 and {e["pid"] for e in stops} == {e["pid"] for e in starts}


async def test_a_recycled_worker_flushes_its_telemetry(tmp_path, slow_upstream, receiver):
    env = {"TELEMETRY_WEBHOOK_URL": receiver.url, "PROXY_MAX_REQUESTS": "10"}
    async with serving(tmp_path, slow_upstream, **env) as (url, proc):
        await _fast_requests(url, 40)  # a worker past 10 requests is recycled within ~1 s
        # The recycled worker says goodbye and every request arrives, while the gateway
        # keeps serving.
        await receiver.wait_for(lambda ev: len(receiver.of_type("server_stop")) >= 1)
        await receiver.wait_for(
            lambda ev: len({e["event_id"] for e in receiver.of_type("request_processed")}) == 40
        )
        assert proc.returncode is None
        assert "Max requests, shutting down" in _log(tmp_path, "err.log")
    stopped = {e["pid"] for e in receiver.of_type("server_stop")}
    assert stopped <= {e["pid"] for e in receiver.of_type("server_start")}


CANARY = "canary-7f3c"


@pytest.mark.one_redis
@pytest.mark.parametrize("dev", [False, True], ids=["gunicorn", "dev"])
@pytest.mark.parametrize("mode", ["multi_tenant", "static"])
async def test_url_credentials_are_used_and_never_printed(
    tmp_path, redis_client, config_api, receiver, dev, mode
):
    """SPEC 10: canary credentials in all three dependency URLs reach the Config API
    and the webhook as HTTP Basic auth (and Redis), and appear in no banner, log line
    or response."""
    import base64

    from tests.conftest import JWT_SECRET, REDIS_TEST_URL
    from tests.helpers import mint_jwt

    def with_credentials(url: str, user: str) -> str:
        return url.replace("http://", f"http://{user}:{CANARY}@", 1)

    config_api.docs["u1"] = {"default": {"provider": "mock"}}
    config = tmp_path / "proxy.yaml"
    config.write_text(yaml.safe_dump({"default": {"provider": "mock"}}))
    env = _environ(
        tmp_path,
        config,
        PROXY_WORKERS="1",
        PROXY_MODE=mode,
        REDIS_URL=REDIS_TEST_URL.replace("redis://", f"redis://default:{CANARY}@", 1),
        CONFIG_API_URL=with_credentials(config_api.url, "cfg"),
        TELEMETRY_WEBHOOK_URL=with_credentials(receiver.url, "hook"),
        AUTH_JWT_SECRET=JWT_SECRET,
        PROXY_LOG_LEVEL="DEBUG",
    )
    (tmp_path / "metrics").mkdir()
    args = ["serve", "--dev"] if dev else ["serve"]
    proc = await spawn_logged(tmp_path, _bin("tenant-proxy"), *args, env=env)
    url = f"http://127.0.0.1:{env['PROXY_PORT']}"
    bodies: list[bytes] = []
    try:
        await wait_until_answering(url, proc, tmp_path)
        chat = "/users/u1/v1/chat/completions" if mode == "multi_tenant" else "/v1/chat/completions"
        auth = {"Authorization": "Bearer " + mint_jwt("u1", JWT_SECRET)}
        async with aiohttp.ClientSession() as session:
            for method, path in [
                ("POST", chat),
                ("GET", "/healthz"),
                ("GET", "/readyz"),
                ("GET", "/metrics"),
                ("GET", "/nowhere"),
                ("POST", "/users/nobody/v1/chat/completions"),
            ]:
                async with session.request(
                    method, url + path, json={"model": "m"}, headers=auth
                ) as r:
                    bodies.append(str(r.headers).encode() + await r.read())
            assert bodies[0].endswith(b"}") and b"chat.completion" in bodies[0]
        await receiver.wait_for(lambda ev: any(e["event_type"] == "request_processed" for e in ev))
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    printed = _log(tmp_path, "out.log") + _log(tmp_path, "err.log")
    assert "tenant-proxy listening on" in printed
    assert CANARY not in printed
    assert not any(CANARY.encode() in body for body in bodies)
    hook_auth = "Basic " + base64.b64encode(f"hook:{CANARY}".encode()).decode()
    assert {h.get("Authorization") for h in receiver.headers} == {hook_auth}
    if mode == "multi_tenant":
        cfg_auth = "Basic " + base64.b64encode(f"cfg:{CANARY}".encode()).decode()
        assert config_api.auth_headers == [cfg_auth]
        assert '"config_api":"http://***@127.0.0.1:' in printed
