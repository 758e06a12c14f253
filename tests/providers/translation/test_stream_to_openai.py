"""An Anthropic event stream as `chat.completion.chunk` events: written as each event
completes, broken or failed streams ended in OpenAI's format."""

from __future__ import annotations

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
