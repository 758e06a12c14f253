"""SPEC 13 through the gateway: which pairs translate, what is refused, errors, usage,
broken and large streams."""

from __future__ import annotations

import asyncio
import tracemalloc

import orjson
from aiohttp import web

from tests.providers.translation.golden import raw, sse_events

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
HI = [{"role": "user", "content": "Hi"}]


def _config(url: str) -> dict[str, object]:
    return {
        "models": [
            {"model_name": "claude", "provider": "anthropic", "api_base": url, "api_key": "sk-a",
             "input_cost_per_mtok": 1_000_000, "output_cost_per_mtok": 2_000_000},
            {"model_name": "gpt", "provider": "openai", "api_base": url, "api_key": "sk-o"},
        ]
    }  # fmt: skip


async def test_a_refused_parameter_is_400_and_never_sent(make_proxy, upstream, sink):
    client = await make_proxy(_config(upstream.url))
    resp = await client.post(CHAT, json={"model": "claude", "messages": HI, "n": 2})
    error = (await resp.json())["error"]
    assert resp.status == 400 and (error["code"], error["param"]) == ("unsupported_parameter", "n")
    assert upstream.seen == [] and "x-proxy-attempts" not in resp.headers
    (record,) = await sink.wait_for(1)
    assert (record.status, record.error, record.attempts) == (400, "unsupported_parameter", 0)


async def test_an_openai_client_on_an_anthropic_route_is_billed_from_the_answer(
    make_proxy, upstream, sink
):
    upstream.handler = lambda request: _body(raw("responses/anthropic_message_text.json"))
    client = await make_proxy(_config(upstream.url))
    resp = await client.post(CHAT, json={"model": "claude", "messages": HI})
    doc = await resp.json()
    assert resp.status == 200 and doc["object"] == "chat.completion"
    assert resp.headers["x-proxy-attempts"] == "1"
    (seen,) = upstream.seen
    assert seen.path == MESSAGES and seen.headers["x-api-key"] == "sk-a"
    assert orjson.loads(seen.body)["max_tokens"] == 4096  # the route's max_tokens_default
    (record,) = await sink.wait_for(1)
    assert (record.input_tokens, record.output_tokens) == (
        doc["usage"]["prompt_tokens"],
        doc["usage"]["completion_tokens"],
    )
    assert record.cost_usd == record.input_tokens + 2 * record.output_tokens


async def test_upstream_errors_come_back_in_the_clients_format_with_their_status(
    make_proxy, upstream
):
    upstream.handler = lambda request: _body(raw("errors/anthropic_overloaded.json"), status=529)
    client = await make_proxy(_config(upstream.url))
    resp = await client.post(CHAT, json={"model": "claude", "messages": HI})
    assert resp.status == 529 and "error" in await resp.json()
    assert (await resp.json()) == orjson.loads(raw("errors/anthropic_overloaded.to_openai.json"))
    upstream.handler = lambda request: _body(raw("errors/openai_rate_limit.json"), status=429)
    resp = await client.post(MESSAGES, json={"model": "gpt", "max_tokens": 5, "messages": HI})
    assert resp.status == 429
    assert (await resp.json()) == orjson.loads(raw("errors/openai_rate_limit.to_anthropic.json"))


async def test_same_format_pairs_pass_through_untouched(make_proxy, upstream):
    body = b'{"model":"gpt","messages":[{"role":"user","content":"Hi"}],"n":2}'
    client = await make_proxy(_config(upstream.url))
    await client.post(CHAT, data=body, headers={"Content-Type": "application/json"})
    assert upstream.seen[0].body == body and upstream.seen[0].path == CHAT


async def test_a_broken_translated_stream_ends_with_one_event_in_the_clients_format(
    make_proxy, upstream, sink
):
    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(raw("streams/openai_text.sse")[:600])  # two events and a bit
        request.transport.abort()
        return response

    upstream.handler = cut
    client = await make_proxy(_config(upstream.url))
    resp = await client.post(
        MESSAGES, json={"model": "gpt", "max_tokens": 5, "messages": HI, "stream": True}
    )
    events = sse_events(await resp.read())
    assert events[0][0] == "message_start"
    assert events[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": events[-1][1]["error"]["message"]}},
    )  # fmt: skip
    assert [name for name, _ in events].count("error") == 1 and "message_stop" not in dict(events)
    (record,) = await sink.wait_for(1)
    assert (record.status, record.error) == (502, "upstream_stream_error")
    # No usage was stated (OpenAI states it last): estimated from the body and from
    # the text the client got ("Hello": 5 characters, 2 tokens).
    assert record.usage_estimated and record.output_tokens == 2
    assert record.input_tokens is not None and record.input_tokens > 0  # the client's bytes / 4


async def test_a_translated_stream_is_written_as_it_arrives_in_flat_memory(make_proxy, upstream):
    """10 MB of Anthropic text deltas reach an OpenAI client while the upstream is still
    writing them, and the gateway never holds more than a few chunks."""
    head, *_ = raw("streams/anthropic_text.sse").split(b"event: content_block_delta", 1)
    delta = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"' + b"x" * 1000 + b'"}}\n\n'
    )
    tail = raw("streams/anthropic_text.sse").rsplit(b"event: content_block_stop", 1)[1]
    first_read = asyncio.Event()

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(head + delta)
        await first_read.wait()  # nothing more until the client saw the first delta
        for _ in range(160):
            await response.write(delta * 64)  # 10 MB in all
        await response.write(b"event: content_block_stop" + tail)
        return response

    upstream.handler = big
    client = await make_proxy(_config(upstream.url))
    resp = await client.post(CHAT, json={"model": "claude", "messages": HI, "stream": True})
    assert b'"content":"xxx' in await resp.content.readuntil(b"\n\n" + b"data: ") + (
        await resp.content.readuntil(b"\n\n")
    )
    first_read.set()
    tracemalloc.start()
    try:
        total = 0
        async for chunk in resp.content.iter_any():
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 10_000_000
    assert peak < 3_000_000  # a stream of 10 MB, held a few chunks at a time


async def _body(data: bytes, status: int = 200) -> web.Response:
    return web.Response(body=data, status=status, content_type="application/json")
