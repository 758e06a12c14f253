"""A `chat.completion.chunk` stream as Anthropic events: broken, failed and unfinished
streams ended in Anthropic's format."""

from __future__ import annotations

import orjson

from proxy.providers.translation.stream_to_anthropic import OpenAIToAnthropicStream
from tests.providers.translation.golden import StreamCutError, raw, sse_events


def test_a_broken_stream_ends_with_an_anthropic_error_event():
    stream = OpenAIToAnthropicStream(model="gpt-4o")
    stream.feed(raw("streams/openai_text.sse")[:400])
    assert not stream.complete
    assert stream.error_event(StreamCutError("cut")) == (
        b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"cut"}}\n\n'
    )


def test_an_openai_stream_without_done_is_closed_when_it_gave_a_finish_reason():
    body = raw("streams/openai_text.sse").replace(b"data: [DONE]\n\n", b"")
    stream = OpenAIToAnthropicStream(model="gpt-4o")
    out = stream.feed(body) + stream.finish()
    assert [name for name, _ in sse_events(out)][-2:] == ["message_delta", "message_stop"]
    assert stream.complete


def test_an_upstream_error_event_is_relayed_in_the_clients_format_and_ends_the_stream():
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
    upstream = OpenAIToAnthropicStream(model="gpt-4o")
    assert sse_events(upstream.feed(b"data: <html>\n\n"))[0][0] == "error"
    assert upstream.failed


def test_text_after_a_tool_call_opens_a_new_text_block():
    def chunk(delta: dict, finish: str | None = None) -> bytes:
        doc = {"id": "c1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + orjson.dumps(doc) + b"\n\n"

    stream = OpenAIToAnthropicStream(model="client-m")
    call = {"index": 0, "id": "t1", "function": {"name": "w", "arguments": "{}"}}
    out = stream.feed(
        chunk({"content": "a"}) + chunk({"tool_calls": [call]}) + chunk({"content": "b"}, "stop")
    )
    out += stream.feed(b"data: [DONE]\n\n")
    names = [name for name, _ in sse_events(out)]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    starts = [p["content_block"]["type"] for n, p in sse_events(out) if n == "content_block_start"]
    assert starts == ["text", "tool_use", "text"]
    assert sse_events(out)[0][1]["message"]["model"] == "client-m"


def test_done_without_any_chunk_is_still_a_whole_message():
    stream = OpenAIToAnthropicStream(model="m")
    names = [name for name, _ in sse_events(stream.feed(b"data: [DONE]\n\n"))]
    assert names == ["message_start", "message_delta", "message_stop"]
    assert stream.complete and stream.feed(b"data: {}\n\n") == b""
