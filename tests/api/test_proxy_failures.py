"""Everything that can go wrong gets a clear OpenAI-shaped error, never a traceback."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import orjson
import pytest
from aiohttp import web

from proxy import keys
from proxy.app import create_app
from proxy.settings import Settings
from proxy.throttled_log import RateLimitedLog
from tests.conftest import openai_route
from tests.helpers import free_port, raw_request

CHAT = "/v1/chat/completions"


def _error_shape(body: dict[str, Any]) -> dict[str, Any]:
    error = body["error"]
    assert set(error) == {"message", "type", "code", "param"}
    return error


async def test_an_upstream_that_never_answers_is_a_504(make_proxy, upstream, sink):
    release = asyncio.Event()

    async def answer(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    upstream.handler = answer
    client = await make_proxy({"models": [openai_route(upstream.url, timeout_s=0.25)]})
    try:
        resp = await client.post(CHAT, json={"model": "gpt-4o-mini"})
    finally:
        release.set()
    assert resp.status == 504
    error = _error_shape(await resp.json())
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_timeout")
    (record,) = await sink.wait_for(1)
    assert (record.status, record.error) == (504, "upstream_timeout")


async def test_an_unreachable_upstream_is_a_502_that_names_no_address(make_proxy):
    port = free_port()  # nothing listens here
    client = await make_proxy({"models": [openai_route(f"http://127.0.0.1:{port}")]})
    resp = await client.post(CHAT, json={"model": "gpt-4o-mini"})
    assert resp.status == 502
    error = _error_shape(await resp.json())
    assert error["code"] == "upstream_unreachable"
    assert "127.0.0.1" not in error["message"] and str(port) not in error["message"]


async def test_an_upstream_outage_logs_one_line_per_host_and_interval(
    aiohttp_client, write_config, sink, caplog
):
    """2,471 lines in a 12 s outage was the bug: now one per host, then the count."""
    caplog.set_level(logging.WARNING, logger="proxy.upstream")
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    also_down = f"http://localhost:{free_port()}"
    doc = {"models": [openai_route(down), openai_route(also_down, model="b")]}
    environ = {"PROXY_CONFIG": write_config(doc), "PROXY_REQUEST_LOG": "0"}
    app = await create_app(Settings.from_env(environ), sinks=[sink])
    now = [1000.0]
    app[keys.UPSTREAM_WARNINGS] = RateLimitedLog(
        logging.getLogger("proxy.upstream"), clock=lambda: now[0]
    )
    client = await aiohttp_client(app)

    def lines() -> list[tuple[str, int]]:
        return [
            (r.host, r.suppressed)  # type: ignore[attr-defined]
            for r in caplog.records
            if r.getMessage() == "upstream connect failed"
        ]

    for model in ["gpt-4o-mini"] * 25 + ["b"] * 5:
        assert (await client.post(CHAT, json={"model": model})).status == 502
    assert lines() == [("127.0.0.1", 0), ("localhost", 0)]
    now[0] += 10.0
    assert (await client.post(CHAT, json={"model": "gpt-4o-mini"})).status == 502
    assert lines()[2:] == [("127.0.0.1", 24)]


async def test_an_upstream_that_resets_the_connection_is_a_502(make_proxy):
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.transport.abort()

    server = await asyncio.start_server(reset, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        client = await make_proxy({"models": [openai_route(url)]})
        resp = await client.post(CHAT, json={"model": "gpt-4o-mini"})
    finally:
        server.close()
        await server.wait_closed()
    assert resp.status == 502
    assert _error_shape(await resp.json())["code"] == "upstream_unreachable"


async def test_body_limit_exactly_at_the_limit_passes_and_one_byte_over_is_413(
    make_proxy, upstream
):
    client = await make_proxy({"models": [openai_route(upstream.url)]}, PROXY_MAX_BODY_BYTES="2000")
    prefix = b'{"model":"gpt-4o-mini","pad":"'
    at_limit = prefix + b"x" * (2000 - len(prefix) - 2) + b'"}'
    assert len(at_limit) == 2000
    ok = await client.post(CHAT, data=at_limit, headers={"Content-Type": "application/json"})
    assert ok.status == 200
    over = at_limit[:-2] + b'x"}'
    too_big = await client.post(CHAT, data=over, headers={"Content-Type": "application/json"})
    assert too_big.status == 413
    error = _error_shape(await too_big.json())
    assert (error["type"], error["code"]) == ("invalid_request_error", "request_too_large")
    assert len(upstream.seen) == 1


async def test_a_chunked_body_over_the_limit_is_413(make_proxy, upstream):
    client = await make_proxy({"models": [openai_route(upstream.url)]}, PROXY_MAX_BODY_BYTES="1000")

    async def chunks():
        yield b'{"model":"gpt-4o-mini","pad":"'
        for _ in range(10):
            yield b"x" * 200
        yield b'"}'

    resp = await client.post(CHAT, data=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert upstream.seen == []


async def test_the_default_limit_is_32_mib_not_aiohttps_1_mib(make_proxy, upstream):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    body = b'{"model":"gpt-4o-mini","pad":"' + b"x" * (3 * 1024 * 1024) + b'"}'
    resp = await client.post(
        CHAT, data=io.BytesIO(body), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 200
    assert upstream.seen[0].body == body


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "gpt-4o-mini", "temperature": NaN}',
        b'{"model": "gpt-4o-mini", "n": ' + b"9" * 5000 + b"}",
        b'{"model": "gpt-4o-mini", "messages": [{"content": "\xff\xfe"}]}',
        b'{"model": "gpt-4o-mini", "messages": [',
        b'["not", "an", "object"]',
        b'{"model": 42}',
    ],
    ids=["nan", "5000-digit-int", "invalid-utf8", "truncated", "array", "model-not-string"],
)
async def test_malformed_json_is_a_400_and_never_forwarded(make_proxy, upstream, body):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    resp = await client.post(CHAT, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert resp.headers["Content-Type"].startswith("application/json")
    error = _error_shape(await resp.json())
    assert error["type"] == "invalid_request_error"
    assert "Traceback" not in error["message"]
    assert upstream.seen == []


@pytest.mark.parametrize(
    "path",
    [
        "/v1/../admin/tenants",
        "/v1/%2e%2e/admin",
        "/v1/files/a%2Fb",
        "/v1/files/a%5Cb",
        "/v1/files/a\\b",
        "/v1/./chat/completions",
        "/v1/files/%00",
    ],
)
async def test_path_tricks_are_a_400(make_proxy, upstream, path):
    client = await make_proxy(
        {"default": {"provider": "openai", "api_base": upstream.url, "api_key": "k"}}
    )
    status, body = await raw_request(str(client.make_url("")).rstrip("/"), path)
    assert status == 400, path
    assert _error_shape(orjson.loads(body))["code"] == "invalid_path"
    assert upstream.seen == []


async def test_percent_encoded_paths_are_decoded_then_forwarded_canonically(make_proxy, upstream):
    client = await make_proxy(
        {"default": {"provider": "openai", "api_base": upstream.url, "api_key": "k"}}
    )
    resp = await client.get("/v1/files/file%2Dabc")
    assert resp.status == 200
    assert upstream.seen[0].path == "/v1/files/file-abc"


async def test_unknown_paths_and_methods_get_json_errors(make_proxy, upstream, sink):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    missing = await client.get("/v2/chat")
    assert missing.status == 404
    assert _error_shape(await missing.json()) == {
        "message": "Unknown path.",
        "type": "not_found_error",
        "code": "not_found",
        "param": None,
    }
    assert missing.headers["x-request-id"].startswith("req_")
    not_allowed = await client.request("OPTIONS", CHAT)
    assert not_allowed.status == 405
    assert _error_shape(await not_allowed.json())["code"] == "method_not_allowed"


async def test_refused_requests_still_make_a_usage_record(make_proxy, upstream, sink):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    await client.post(CHAT, json={"model": "unknown"})
    await client.post(CHAT, data=b"{", headers={"Content-Type": "application/json"})
    records = await sink.wait_for(2)
    assert [(r.status, r.error, r.model) for r in records] == [
        (404, "model_not_found", "unknown"),
        (400, "invalid_json", None),
    ]


async def test_an_unexpected_exception_is_a_500_with_a_request_id_and_nothing_else(
    aiohttp_client, write_config, sink, caplog
):
    class Exploding:
        def cached(self, tenant_id):
            return None

        async def config_for(self, tenant_id):
            raise RuntimeError("secret internals sk-live-123")

    environ = {
        "PROXY_CONFIG": write_config({"default": {"provider": "mock"}}),
        "PROXY_REQUEST_LOG": "0",
    }
    app = await create_app(Settings.from_env(environ), sinks=[sink])
    app[keys.TENANTS] = Exploding()
    client = await aiohttp_client(app)
    resp = await client.post(CHAT, json={"model": "m"}, headers={"X-Request-ID": "boom-1"})
    assert resp.status == 500
    error = _error_shape(await resp.json())
    assert error == {
        "message": "Internal error (request id boom-1).",
        "type": "server_error",
        "code": "internal_error",
        "param": None,
    }
    assert "RuntimeError" in caplog.text  # the operator gets the traceback, the client does not
    (record,) = await sink.wait_for(1)
    assert (record.status, record.error) == (500, "internal_error")
