"""The relay: an answer written to a real client, JSON whole, SSE chunk by chunk, local
replies as made; timing headers on each; the upstream connection released or closed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from proxy.api.relay import Relay
from proxy.lifecycle import Lifecycle
from proxy.providers import PROVIDERS
from proxy.route import Route
from proxy.telemetry.metrics import Metrics
from proxy.upstream.call import Call
from proxy.upstream.exchange import Exchange
from proxy.upstream.send import Send
from tests.helpers import CHAT_COMPLETION, make_call, sse, upstream_session

USAGE_CHUNK = b'{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2}}'


@dataclass
class Gateway:
    """A one-route gateway: exchange, then relay; the calls it made, for inspection."""

    route: Route
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    metrics: Metrics = field(default_factory=Metrics)
    calls: list[Call] = field(default_factory=list)
    exchange: Exchange | None = None  # opened with the app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        call = make_call(await request.read(), path=request.path, headers=dict(request.headers))
        call.route = self.route
        self.calls.append(call)
        assert self.exchange is not None
        answer = await self.exchange.send(call, self.route)
        return await Relay(lifecycle=self.lifecycle, metrics=self.metrics).respond(
            request, call, answer
        )


@pytest.fixture
def serve(aiohttp_client: Any):
    async def serve(route: Route) -> tuple[Any, Gateway]:
        gateway = Gateway(route)
        app = web.Application()

        async def exchange_ctx(app: web.Application) -> Any:
            async with upstream_session() as session:
                gateway.exchange = Exchange(Send(session, connect_timeout=5), PROVIDERS)
                yield

        app.cleanup_ctx.append(exchange_ctx)
        app.router.add_route("*", "/{tail:.*}", gateway.handle)
        return await aiohttp_client(app), gateway

    return serve


def _openai(url: str) -> Route:
    return Route(provider="openai", api_base=url, api_key="sk-route-key-0001")


async def _stream(request: web.Request, *parts: bytes, cut: bool = False) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for part in parts:
        await response.write(part)
    if cut:
        assert request.transport is not None
        request.transport.abort()
        return response
    await response.write_eof()
    return response


async def test_json_goes_whole_with_usage_and_timing_headers(serve, upstream):
    body = orjson.dumps(CHAT_COMPLETION)

    async def answer(request: web.Request) -> web.Response:
        return web.Response(
            body=body, content_type="application/json", headers={"X-Request-ID": "up-7"}
        )

    upstream.handler = answer
    client, gateway = await serve(_openai(upstream.url))
    resp = await client.post("/v1/chat/completions", json={"model": "gpt-4o-mini"})
    assert await resp.read() == body  # the same bytes: never re-encoded
    assert resp.headers["x-request-id"] == "req_test"
    assert resp.headers["x-upstream-request-id"] == "up-7"
    start, stop = (float(resp.headers[f"x-upstream-request-{n}"]) for n in ("start", "stop"))
    assert 0 < start <= stop
    assert resp.headers["Server-Timing"].startswith("proxy;dur=")
    (call,) = gateway.calls
    record = call.record
    assert (record.status, record.input_tokens, record.output_tokens, record.cached_tokens) == (
        200,
        11,
        4,
        3,
    )
    assert call.upstream_s is not None


async def test_an_error_body_that_echoes_the_key_is_masked(serve, upstream):
    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "bad key sk-route-key-0001"}}, status=401)

    upstream.handler = refuse
    client, _ = await serve(_openai(upstream.url))
    resp = await client.post("/v1/chat/completions", json={"model": "gpt-4o-mini"})
    assert resp.status == 401
    assert (await resp.json())["error"]["message"] == "bad key sk-...0001"


async def test_sse_goes_by_chunks_and_the_usage_chunk_the_proxy_asked_for_is_dropped(
    serve, upstream
):
    chunk = b'{"choices":[{"delta":{"content":"hi"}}]}'
    upstream.handler = lambda request: _stream(request, sse(chunk), sse(USAGE_CHUNK, b"[DONE]"))
    client, gateway = await serve(_openai(upstream.url))
    resp = await client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "stream": True})
    assert await resp.read() == sse(chunk, b"[DONE]")
    assert resp.headers["Content-Type"] == "text/event-stream"
    (call,) = gateway.calls
    assert call.drop_usage
    assert (call.record.input_tokens, call.record.output_tokens) == (9, 2)


async def test_a_broken_stream_ends_with_the_providers_error_event(serve, upstream):
    chunk = b'{"choices":[{"delta":{"content":"hi"}}]}'
    upstream.handler = lambda request: _stream(request, sse(chunk), cut=True)
    client, gateway = await serve(_openai(upstream.url))
    resp = await client.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True}},
    )
    text = await resp.read()
    assert text.startswith(sse(chunk))
    last = orjson.loads(text.strip().rsplit(b"\n\n", 1)[-1].removeprefix(b"data: "))
    assert last["error"]["code"] == "upstream_stream_error"
    assert gateway.calls[0].record.error == "upstream_stream_error"
    assert gateway.calls[0].record.status == 502
    gateway.metrics.flush()
    assert (
        b'tenant_proxy_upstream_errors_total{kind="disconnect"} 1.0' in gateway.metrics.render()[0]
    )


async def test_in_process_replies_go_as_made_with_their_timing(serve):
    client, gateway = await serve(Route(provider="mock", api_base="mock:"))
    whole = await client.post("/v1/chat/completions", json={"model": "m", "max_tokens": 2})
    assert (await whole.json())["choices"][0]["message"]["content"] == "This is "
    stream = await client.post("/v1/messages", json={"model": "m", "stream": True})
    assert (await stream.read()).endswith(b'{"type":"message_stop"}\n\n')
    for resp in (whole, stream):
        assert resp.headers["x-request-id"] == "req_test"
        assert "x-upstream-request-stop" in resp.headers
    assert [c.record.output_tokens for c in gateway.calls] == [2, 7]


async def test_a_draining_worker_asks_clients_to_close(serve, upstream):
    client, gateway = await serve(_openai(upstream.url))
    gateway.lifecycle.start_draining(5.0)
    resp = await client.post("/v1/chat/completions", json={"model": "gpt-4o-mini"})
    assert resp.status == 200 and resp.headers["Connection"] == "close"


async def test_an_error_answer_in_sse_goes_whole_with_the_key_masked_across_chunks(serve, upstream):
    async def refuse(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=429, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"error":"slow down, sk-route-')  # the key, split
        await response.write(b'key-0001"}\n\n')
        await response.write_eof()
        return response

    upstream.handler = refuse
    client, gateway = await serve(_openai(upstream.url))
    resp = await client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "stream": True})
    assert resp.status == 429
    assert await resp.read() == b'data: {"error":"slow down, sk-...0001"}\n\n'
    assert gateway.calls[0].record.status == 429


async def test_a_cut_stream_is_settled_from_the_text_it_relayed(serve, upstream):
    chunk = b'{"choices":[{"delta":{"content":"Hello"}}]}'
    upstream.handler = lambda request: _stream(request, sse(chunk), cut=True)
    client, gateway = await serve(_openai(upstream.url))
    resp = await client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "stream": True})
    await resp.read()
    (call,) = gateway.calls
    record = call.record
    assert record.usage_estimated is True
    assert record.input_tokens == -(-len(call.body.raw) // 4)
    assert record.output_tokens == 2  # "Hello": 5 characters / 4, rounded up
