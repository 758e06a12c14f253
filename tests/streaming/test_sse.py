"""The SSE tracker relays bytes as they come, whatever the chunking, and finds usage."""

from __future__ import annotations

import pytest

from proxy.streaming.sse import SSETracker
from proxy.streaming.text import text_fields

OPENAI = (
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"a"}}],"usage":null}\n\n'
    b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
    b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,'
    b'"prompt_tokens_details":{"cached_tokens":4}}}\n\n'
    b"data: [DONE]\n\n"
)
WITHOUT_USAGE_CHUNK = (
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"a"}}],"usage":null}\n\n'
    b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
    b"data: [DONE]\n\n"
)


def _run(stream: bytes, cuts: list[int], *, drop: bool) -> tuple[bytes, SSETracker]:
    tracker = SSETracker(drop_usage_chunk=drop)
    out, last = b"", 0
    for cut in [*cuts, len(stream)]:
        out += tracker.feed(stream[last:cut])
        last = cut
    return out + tracker.finish(), tracker


@pytest.mark.parametrize("drop", [False, True])
def test_every_single_split_point(drop):
    expected = WITHOUT_USAGE_CHUNK if drop else OPENAI
    for cut in range(1, len(OPENAI)):
        out, tracker = _run(OPENAI, [cut], drop=drop)
        assert out == expected, cut
        u = tracker.usage
        assert (u.input_tokens, u.output_tokens, u.cached_tokens) == (12, 3, 4), cut


@pytest.mark.parametrize("drop", [False, True])
def test_byte_by_byte(drop):
    out, tracker = _run(OPENAI, list(range(1, len(OPENAI))), drop=drop)
    assert out == (WITHOUT_USAGE_CHUNK if drop else OPENAI)
    assert tracker.usage.output_tokens == 3


def test_pass_through_returns_each_chunk_as_is():
    tracker = SSETracker()
    chunk = OPENAI[:37]
    assert tracker.feed(chunk) is chunk  # no copy on the common path


def test_crlf_framing_is_kept_and_dropped_cleanly():
    stream = OPENAI.replace(b"\n", b"\r\n")
    out, tracker = _run(stream, [50, 160], drop=True)
    assert out == WITHOUT_USAGE_CHUNK.replace(b"\n", b"\r\n")
    assert tracker.usage.input_tokens == 12


def test_anthropic_and_an_unterminated_last_line():
    stream = (
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":7,'
        b'"cache_read_input_tokens":2,"cache_creation_input_tokens":1,"output_tokens":1}}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":9}}'
    )
    out, tracker = _run(stream, [30], drop=False)
    assert out == stream
    u = tracker.usage
    assert (u.input_tokens, u.output_tokens, u.cached_tokens) == (10, 9, 2)


def test_usage_inside_content_text_is_not_usage():
    stream = b'data: {"choices":[{"delta":{"content":"the \\"usage\\":{\\"prompt_tokens\\":99} key"}}]}\n\n'
    out, tracker = _run(stream, [], drop=False)
    assert out == stream and not tracker.usage.is_known


def test_relayed_bytes_are_counted():
    _, tracker = _run(OPENAI, [10, 100], drop=True)
    assert tracker.relayed_bytes == len(WITHOUT_USAGE_CHUNK)


def _spaced(stream: bytes) -> bytes:
    """The same events as another JSON encoder writes them: `"key": value`."""
    import json

    lines = []
    for line in stream.split(b"\n"):
        if line.startswith(b"data: {"):
            line = b"data: " + json.dumps(json.loads(line[6:])).encode()
        lines.append(line)
    return b"\n".join(lines)


@pytest.mark.parametrize("cuts", [[], [60], [200, 201]])
def test_a_stream_with_spaces_after_colons_is_read_and_dropped_too(cuts):
    out, tracker = _run(_spaced(OPENAI), cuts, drop=True)
    assert out == _spaced(WITHOUT_USAGE_CHUNK)
    u = tracker.usage
    assert (u.input_tokens, u.output_tokens, u.cached_tokens) == (12, 3, 4)


def test_a_usage_object_holding_a_brace_in_a_string_still_counts():
    stream = (
        b'data: {"type":"message_delta","usage":{"output_tokens":9,"note":"}{"},"delta":{}}\n\n'
    )
    out, tracker = _run(stream, [], drop=False)
    assert out == stream and tracker.usage.output_tokens == 9


TEXT_EVENTS = (
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hello"}}],"usage":null}\n\n'
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":" wor\\u00ebld"}}],"usage":null}\n\n'
)


@pytest.mark.parametrize("drop", [False, True])
def test_text_relayed_is_counted_whatever_the_chunking(drop):
    for cut in range(1, len(TEXT_EVENTS)):
        tracker = SSETracker(drop_usage_chunk=drop, text=text_fields("/v1/chat/completions"))
        tracker.feed(TEXT_EVENTS[:cut])
        tracker.feed(TEXT_EVENTS[cut:])
        assert tracker.text_chars == len("Hello worëld"), cut


def test_a_usage_statement_covers_the_text_before_it():
    tracker = SSETracker(text=text_fields("/v1/messages"))
    tracker.feed(
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":'
        b'{"input_tokens":20,"output_tokens":1}}}\n\n'
        b'data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"abc"}}\n\n'
    )
    assert tracker.text_chars == 3  # after message_start's statement
    tracker.feed(b'data: {"type":"message_delta","usage":{"output_tokens":2}}\n\n')
    assert tracker.text_chars == 0
    assert (tracker.usage.input_tokens, tracker.usage.output_tokens) == (20, 2)


def test_a_long_stream_counts_all_its_text():
    tracker = SSETracker(text=text_fields("/v1/chat/completions"))
    event = b'data: {"choices":[{"delta":{"content":"ab"}}]}\n\n'
    for _ in range(1000):
        tracker.feed(event)
    assert tracker.text_chars == 2000
