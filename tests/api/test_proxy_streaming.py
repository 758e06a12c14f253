"""SSE through the proxy: chunk by chunk, usage from every provider's stream, disconnects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from tests.conftest import openai_route
from tests.helpers import sse

CHAT = "/v1/chat/completions"
CHUNK1 = (
    b'{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"}}]}'
)
CHUNK2 = (
    b'{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"lo"}}]}'
)
USAGE = b'{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}'


async def _stream(request: web.Request, *parts: bytes) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for part in parts:
        await resp.write(part)
    await resp.write_eof()
    return resp


async def _open_stream(client: TestClient) -> ClientResponse:
    """A chat stream whose client asked for usage (so the proxy passes lines as they come)."""
    resp = await client.post(
        CHAT,
        json={"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True}},
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    return resp


async def test_first_chunk_reaches_the_client_before_the_upstream_sends_the_second(
    make_proxy, upstream
):
    client_has_first = asyncio.Event()

    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(sse(CHUNK1))
        await asyncio.wait_for(client_has_first.wait(), 5)  # a buffering proxy deadlocks here
        await resp.write(sse(CHUNK2) + b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    upstream.handler = answer
    resp = await _open_stream(await make_proxy({"models": [openai_route(upstream.url)]}))
    first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)
    assert first == sse(CHUNK1)
    client_has_first.set()
    assert await resp.content.read() == sse(CHUNK2) + b"data: [DONE]\n\n"


async def test_headers_reach_the_client_while_the_first_chunk_is_still_coming(make_proxy, upstream):
    client_has_headers = asyncio.Event()

    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)  # headers now; the first token takes a while
        await asyncio.wait_for(client_has_headers.wait(), 5)  # deadlocks if headers are held
        await resp.write(sse(CHUNK1) + b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    upstream.handler = answer
    resp = await _open_stream(await make_proxy({"models": [openai_route(upstream.url)]}))
    assert resp.headers["x-request-id"]
    client_has_headers.set()
    assert await resp.content.read() == sse(CHUNK1) + b"data: [DONE]\n\n"


async def test_usage_is_requested_for_chat_streams_and_the_extra_chunk_removed(
    make_proxy, upstream, sink
):
    upstream.handler = lambda request: _stream(
        request, sse(CHUNK1, CHUNK2, USAGE), b"data: [DONE]\n\n"
    )
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    body = b'{"model":"gpt-4o-mini","stream":true,"messages":[]}'
    resp = await client.post(CHAT, data=body, headers={"Content-Type": "application/json"})
    assert await resp.read() == sse(CHUNK1, CHUNK2) + b"data: [DONE]\n\n"
    sent = upstream.seen[0].body
    assert orjson.loads(sent) == {**orjson.loads(body), "stream_options": {"include_usage": True}}
    assert sent.endswith(b'"stream":true,"messages":[]}')  # spliced in, not re-encoded
    (record,) = await sink.wait_for(1)
    assert (record.input_tokens, record.output_tokens, record.stream) == (9, 2, True)


async def test_a_client_that_asked_for_usage_gets_the_chunk_and_the_body_untouched(
    make_proxy, upstream, sink
):
    upstream.handler = lambda request: _stream(request, sse(CHUNK1, USAGE, b"[DONE]"))
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    body = b'{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true}}'
    resp = await client.post(CHAT, data=body, headers={"Content-Type": "application/json"})
    assert await resp.read() == sse(CHUNK1, USAGE, b"[DONE]")
    assert upstream.seen[0].body == body
    (record,) = await sink.wait_for(1)
    assert (record.input_tokens, record.output_tokens) == (9, 2)


async def test_stream_options_without_include_usage_is_merged(make_proxy, upstream):
    upstream.handler = lambda request: _stream(request, sse(CHUNK1, USAGE, b"[DONE]"))
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "stream_options": {"continuous_usage_stats": True},
    }
    resp = await client.post(CHAT, json=body)
    assert await resp.read() == sse(CHUNK1, b"[DONE]")
    assert orjson.loads(upstream.seen[0].body)["stream_options"] == {
        "continuous_usage_stats": True,
        "include_usage": True,
    }


async def test_anthropic_stream_usage_comes_from_message_start_and_delta(
    make_proxy, upstream, sink
):
    events = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":'
        b'{"input_tokens":20,"cache_read_input_tokens":5,"cache_creation_input_tokens":0,"output_tokens":1}}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    upstream.handler = lambda request: _stream(request, events[:50], events[50:130], events[130:])
    route = {
        "model_name": "claude",
        "provider": "anthropic",
        "api_base": upstream.url,
        "api_key": "sk-a",
    }
    client = await make_proxy({"models": [route]})
    body = b'{"model":"claude","max_tokens":10,"stream":true,"messages":[]}'
    resp = await client.post(
        "/v1/messages", data=body, headers={"Content-Type": "application/json"}
    )
    assert await resp.read() == events
    assert upstream.seen[0].body == body  # no stream_options for Anthropic
    (record,) = await sink.wait_for(1)
    assert (record.input_tokens, record.output_tokens, record.cached_tokens) == (25, 7, 5)


async def test_responses_stream_usage_comes_from_response_completed(make_proxy, upstream, sink):
    events = (
        b'event: response.created\ndata: {"type":"response.created","response":{"id":"r","usage":null}}\n\n'
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"x"}\n\n'
        b'event: response.completed\ndata: {"type":"response.completed","response":{"id":"r","usage":'
        b'{"input_tokens":30,"input_tokens_details":{"cached_tokens":10},"output_tokens":4,"total_tokens":34}}}\n\n'
    )
    upstream.handler = lambda request: _stream(request, events)
    client = await make_proxy({"models": [openai_route(upstream.url, model="gpt-4.1")]})
    resp = await client.post(
        "/v1/responses", json={"model": "gpt-4.1", "stream": True, "input": "x"}
    )
    assert await resp.read() == events
    (record,) = await sink.wait_for(1)
    assert (record.input_tokens, record.output_tokens, record.cached_tokens) == (30, 4, 10)
    assert record.cost_usd is not None  # gpt-4.1 is in the built-in price table


async def test_a_stalled_stream_ends_with_a_timeout_event(make_proxy, upstream, sink):
    release = asyncio.Event()

    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(sse(CHUNK1))
        await release.wait()  # stalls longer than the route's timeout
        return resp

    upstream.handler = answer
    client = await make_proxy({"models": [openai_route(upstream.url, timeout_s=0.3)]})
    try:
        resp = await client.post(CHAT, json={"model": "gpt-4o-mini", "stream": True})
        assert resp.status == 200
        text = await resp.read()
    finally:
        release.set()
    assert text.startswith(sse(CHUNK1))
    last = orjson.loads(text.strip().rsplit(b"\n\n", 1)[-1].removeprefix(b"data: "))
    assert last["error"]["code"] == "upstream_stream_error"
    assert last["error"]["type"] == "upstream_error"
    assert text.count(b"\n\n") == 2  # one chunk, one final error event, no [DONE]
    (record,) = await sink.wait_for(1)
    assert (record.status, record.error) == (502, "upstream_stream_error")


@asynccontextmanager
async def raw_upstream(script) -> AsyncIterator[str]:
    """An upstream that speaks raw HTTP over asyncio streams, to see EOFs and resets."""

    writers: list[asyncio.StreamWriter] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            await script(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_a_client_disconnect_closes_the_upstream_connection_within_a_second(make_proxy, sink):
    upstream_saw_eof = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD + _chunk(sse(CHUNK1)))
        await writer.drain()
        await reader.read()  # returns b"" once the proxy closes its side
        upstream_saw_eof.set()

    async with raw_upstream(script) as url:
        client = await make_proxy({"models": [openai_route(url)]})
        resp = await client.post(CHAT, json={"model": "gpt-4o-mini", "stream": True})
        assert await resp.content.readuntil(b"\n\n") == sse(CHUNK1)
        resp.close()  # the client goes away mid-stream
        await asyncio.wait_for(upstream_saw_eof.wait(), 1.0)
    (record,) = await sink.wait_for(1)
    assert (record.status, record.error) == (499, "client_disconnected")


async def test_headers_are_not_held_back_by_a_partial_first_line(make_proxy):
    """The proxy added include_usage, so it only releases whole lines; the headers go anyway."""
    client_has_headers = asyncio.Event()
    line = b"data: " + CHUNK1 + b"\n\n"

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD + _chunk(line[:20]))  # headers and half a line, together
        await writer.drain()
        await asyncio.wait_for(client_has_headers.wait(), 5)  # deadlocks if headers wait
        writer.write(_chunk(line[20:]) + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()

    async with raw_upstream(script) as url:
        client = await make_proxy({"models": [openai_route(url)]})
        resp = await client.post(CHAT, json={"model": "gpt-4o-mini", "stream": True})
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        client_has_headers.set()
        assert await resp.content.read() == line + b"data: [DONE]\n\n"


async def test_an_upstream_that_drops_mid_stream_gets_an_error_event(make_proxy, sink):
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD + _chunk(sse(CHUNK1)))
        await writer.drain()
        writer.transport.abort()  # reset, no terminating chunk

    async with raw_upstream(script) as url:
        client = await make_proxy({"models": [openai_route(url)]})
        resp = await client.post(CHAT, json={"model": "gpt-4o-mini", "stream": True})
        text = await resp.read()
    assert text.startswith(sse(CHUNK1))
    assert b'"code":"upstream_stream_error"' in text.rsplit(b"\n\n", 2)[-2]
    (record,) = await sink.wait_for(1)
    assert (record.status, record.error) == (502, "upstream_stream_error")


async def test_a_non_streaming_request_is_cancelled_upstream_when_the_client_leaves(
    make_proxy, sink
):
    upstream_saw_eof = asyncio.Event()
    got_request = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got_request.set()
        await reader.read()  # never answers; EOF when the proxy gives up the request
        upstream_saw_eof.set()

    async with raw_upstream(script) as url:
        client = await make_proxy({"models": [openai_route(url)]})
        task = asyncio.get_running_loop().create_task(
            client.post(CHAT, json={"model": "gpt-4o-mini"})
        )
        await asyncio.wait_for(got_request.wait(), 5)
        task.cancel()  # the client gives up: its connection closes
        await asyncio.wait_for(upstream_saw_eof.wait(), 1.0)
    (record,) = await sink.wait_for(1)
    assert record.status == 499


STREAM_BODY = b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'


def _assert_estimated(record, *, output_tokens: int) -> None:
    """SPEC 8.1: prompt = request bytes / 4, output = relayed text characters / 4."""
    assert record.usage_estimated is True
    assert record.input_tokens == -(-len(STREAM_BODY) // 4)
    assert record.output_tokens == output_tokens
    assert record.cost_usd is not None and record.cost_usd > 0  # priced as usual


async def _post_stream(client: TestClient) -> ClientResponse:
    return await client.post(CHAT, data=STREAM_BODY, headers={"Content-Type": "application/json"})


async def test_a_stream_cut_by_the_upstream_is_billed_from_what_was_relayed(make_proxy, sink):
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD + _chunk(sse(CHUNK1)) + _chunk(sse(CHUNK2)))
        await writer.drain()
        writer.transport.abort()  # reset before the usage chunk

    async with raw_upstream(script) as url:
        client = await make_proxy({"models": [openai_route(url)]})
        resp = await _post_stream(client)
        await resp.read()
    (record,) = await sink.wait_for(1)
    _assert_estimated(record, output_tokens=2)  # "Hel" + "lo": 5 characters


async def test_a_stream_stalled_past_the_timeout_is_billed_from_what_was_relayed(
    make_proxy, upstream, sink
):
    release = asyncio.Event()

    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(sse(CHUNK1))
        await release.wait()
        return resp

    upstream.handler = answer
    client = await make_proxy({"models": [openai_route(upstream.url, timeout_s=0.3)]})
    try:
        await (await _post_stream(client)).read()
    finally:
        release.set()
    (record,) = await sink.wait_for(1)
    assert (record.status, record.error) == (502, "upstream_stream_error")
    _assert_estimated(record, output_tokens=1)  # "Hel"


async def test_a_client_that_leaves_mid_stream_is_billed_from_what_was_relayed(make_proxy, sink):
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD + _chunk(sse(CHUNK1, CHUNK2)))
        await writer.drain()
        await reader.read()  # until the proxy closes its side

    async with raw_upstream(script) as url:
        client = await make_proxy({"models": [openai_route(url)]})
        resp = await _post_stream(client)
        assert await resp.content.readuntil(b"\n\n") == sse(CHUNK1)
        resp.close()
        (record,) = await sink.wait_for(1)
    assert record.status == 499
    _assert_estimated(record, output_tokens=2)


async def test_usage_the_upstream_sent_is_never_replaced_by_an_estimate(make_proxy, upstream, sink):
    upstream.handler = lambda request: _stream(
        request, sse(CHUNK1, CHUNK2, USAGE), b"data: [DONE]\n\n"
    )
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    await (await _post_stream(client)).read()
    (record,) = await sink.wait_for(1)
    assert (record.input_tokens, record.output_tokens, record.usage_estimated) == (9, 2, False)


async def test_an_anthropic_stream_cut_after_message_start_adds_the_text_it_relayed(
    make_proxy, sink
):
    events = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":'
        b'{"input_tokens":20,"output_tokens":1}}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Hello there"}}\n\n'
    )

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD + _chunk(events))
        await writer.drain()
        writer.transport.abort()

    async with raw_upstream(script) as url:
        route = {"model_name": "claude", "provider": "anthropic", "api_base": url, "api_key": "k"}
        client = await make_proxy({"models": [route]})
        body = b'{"model":"claude","max_tokens":10,"stream":true,"messages":[]}'
        resp = await client.post(
            "/v1/messages", data=body, headers={"Content-Type": "application/json"}
        )
        await resp.read()
    (record,) = await sink.wait_for(1)
    # The stated input stays; the stated output (1) plus ceil(11 / 4) for the text after it.
    assert (record.input_tokens, record.output_tokens, record.usage_estimated) == (20, 4, True)
