"""Translated streams when things go wrong, and their cost in memory."""

from __future__ import annotations

import tracemalloc

from proxy.errors import ProxyError
from proxy.providers.translation import AnthropicToOpenAIStream, OpenAIToAnthropicStream
from tests.providers.translation.golden import raw, sse_events


class StreamCutError(ProxyError):
    status, error_type, code = 502, "upstream_error", "upstream_stream_error"


def test_a_broken_stream_ends_with_an_openai_error_event_and_no_done():
    stream = AnthropicToOpenAIStream(model="claude-sonnet", include_usage=True)
    head = raw("streams/anthropic_text.sse")[:600]
    out = stream.feed(head) + stream.finish() + stream.error_event(StreamCutError("cut"))
    assert not stream.complete
    assert b"[DONE]" not in out
    assert out.endswith(
        b'data: {"error":{"message":"cut","type":"upstream_error","code":"upstream_stream_error","param":null}}\n\n'
    )


def test_a_broken_stream_ends_with_an_anthropic_error_event():
    stream = OpenAIToAnthropicStream(model="gpt-4o")
    stream.feed(raw("streams/openai_text.sse")[:400])
    assert not stream.complete
    assert stream.error_event(StreamCutError("cut")) == (
        b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"cut"}}\n\n'
    )


def test_an_upstream_error_event_is_relayed_in_the_clients_format_and_ends_the_stream():
    overloaded = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    stream = AnthropicToOpenAIStream(model="claude-sonnet", include_usage=False)
    out = stream.feed(raw("streams/anthropic_text.sse").split(b"\n\n")[0] + b"\n\n" + overloaded)
    assert stream.failed
    assert sse_events(out)[-1] == (
        None,
        {
            "error": {
                "message": "Overloaded",
                "type": "upstream_error",
                "code": "upstream_stream_error",
                "param": None,
            }
        },
    )
    assert stream.feed(b'event: message_stop\ndata: {"type":"message_stop"}\n\n') == b""

    upstream = OpenAIToAnthropicStream(model="gpt-4o")
    out = upstream.feed(
        b'data: {"error": {"message": "The server had an error", "type": "server_error"}}\n\n'
    )
    assert upstream.failed
    assert sse_events(out) == [
        (
            "error",
            {"type": "error", "error": {"type": "api_error", "message": "The server had an error"}},
        )
    ]


def test_an_unreadable_upstream_event_ends_the_stream_as_a_failure():
    stream = AnthropicToOpenAIStream(model="claude-sonnet", include_usage=False)
    out = stream.feed(b'event: message_start\ndata: {"type": "message_st\n\n')
    assert stream.failed and sse_events(out)[0][1]["error"]["code"] == "upstream_stream_error"
    upstream = OpenAIToAnthropicStream(model="gpt-4o")
    assert sse_events(upstream.feed(b"data: <html>\n\n"))[0][0] == "error"
    assert upstream.failed


def test_an_openai_stream_without_done_is_closed_when_it_gave_a_finish_reason():
    body = raw("streams/openai_text.sse").replace(b"data: [DONE]\n\n", b"")
    stream = OpenAIToAnthropicStream(model="gpt-4o")
    out = stream.feed(body) + stream.finish()
    assert [name for name, _ in sse_events(out)][-2:] == ["message_delta", "message_stop"]
    assert stream.complete


def test_memory_stays_flat_for_a_ten_megabyte_stream_both_ways():
    text_event = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"'
        + b"x" * 200
        + b'"}}\n\n'
    )
    chunk_event = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"'
        + b"y" * 200
        + b'"},"finish_reason":null}]}\n\n'
    )
    anthropic_head = raw("streams/anthropic_text.sse")[:600]
    cases = [
        (AnthropicToOpenAIStream(model="m", include_usage=True), anthropic_head, text_event),
        (OpenAIToAnthropicStream(model="m"), b"", chunk_event),
    ]
    for stream, head, event in cases:
        stream.feed(head)
        piece = event * 40  # ~10 KB per upstream read, cut mid-event below
        sent = 0
        tracemalloc.start()
        while sent < 10 << 20:
            out = stream.feed(piece[:4000]) + stream.feed(piece[4000:])
            assert out
            sent += len(piece)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 200_000, peak  # one read and its translation, not the stream
        assert all(payload for _, payload in sse_events(out))  # whole events, still flowing
