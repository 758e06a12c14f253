"""Translated streams, both ways: their cost in memory does not grow with the stream."""

from __future__ import annotations

import tracemalloc

from proxy.providers.translation import AnthropicToOpenAIStream, OpenAIToAnthropicStream
from tests.providers.translation.golden import raw, sse_events


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
