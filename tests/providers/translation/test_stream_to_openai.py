"""An Anthropic event stream as `chat.completion.chunk` events: written as each event
completes, broken or failed streams ended in OpenAI's format."""

from __future__ import annotations

import orjson

from proxy.providers.translation.stream_to_openai import AnthropicToOpenAIStream
from tests.providers.translation.golden import StreamCutError, raw, sse_events


def test_each_upstream_event_is_written_as_soon_as_it_is_complete():
    events = raw("streams/anthropic_text.sse").split(b"\n\n")
    stream = AnthropicToOpenAIStream(model="claude-sonnet", include_usage=False)
    first = stream.feed(events[0] + b"\n")
    assert first == b""  # the blank line that ends the event has not arrived yet
    assert sse_events(stream.feed(b"\n"))[0][1]["choices"][0]["delta"]["role"] == "assistant"
    stream.feed(b"\n\n".join(events[1:3]) + b"\n\n")
    hello = stream.feed(events[3] + b"\r\n\r\n")  # CRLF line ends are SSE too
    assert sse_events(hello)[0][1]["choices"][0]["delta"] == {"content": "Hello"}


def test_a_broken_stream_ends_with_an_openai_error_event_and_no_done():
    stream = AnthropicToOpenAIStream(model="claude-sonnet", include_usage=True)
    head = raw("streams/anthropic_text.sse")[:600]
    out = stream.feed(head) + stream.finish() + stream.error_event(StreamCutError("cut"))
    assert not stream.complete
    assert b"[DONE]" not in out
    assert out.endswith(
        b'data: {"error":{"message":"cut","type":"upstream_error","code":"upstream_stream_error","param":null}}\n\n'
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


def test_an_unreadable_upstream_event_ends_the_stream_as_a_failure():
    stream = AnthropicToOpenAIStream(model="claude-sonnet", include_usage=False)
    out = stream.feed(b'event: message_start\ndata: {"type": "message_st\n\n')
    assert stream.failed and sse_events(out)[0][1]["error"]["code"] == "upstream_stream_error"


def _events(*docs: dict) -> bytes:
    return b"".join(b"event: x\ndata: " + orjson.dumps(d) + b"\n\n" for d in docs)


def test_tool_use_blocks_are_numbered_as_tool_calls_and_pings_and_thinking_say_nothing():
    start = {"type": "message_start", "message": {"id": "m1", "usage": {"input_tokens": 4}}}
    stream = AnthropicToOpenAIStream(model="client-m", include_usage=True, created=7)
    out = stream.feed(
        _events(
            start,
            {"type": "ping"},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta"}},
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "t1", "name": "w", "input": {}},
            },
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"a":'},
            },
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 2},
            },
            {"type": "message_stop"},
        )
    )
    events = sse_events(out)
    chunks = [payload for _, payload in events if isinstance(payload, dict)]
    assert all(c["model"] == "client-m" and c["created"] == 7 for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[1]["tool_calls"][0] == {
        "index": 0,
        "id": "t1",
        "type": "function",
        "function": {"name": "w", "arguments": ""},
    }
    assert deltas[2]["tool_calls"][0] == {"index": 0, "function": {"arguments": '{"a":'}}
    assert chunks[3]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 6
    assert events[-1] == (None, "[DONE]") and len(chunks) == 5
    assert stream.complete
