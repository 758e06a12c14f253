"""The mock's legacy Completions answers, byte for byte as they have always been."""

from __future__ import annotations

from itertools import count

import orjson

from proxy.body import RequestBody, inspect_body
from proxy.providers.mock import completions
from proxy.streaming.usage import Usage


def clock() -> float:
    return 1_700_000_000.5


def _body(doc: dict[str, object]) -> RequestBody:
    return inspect_body(orjson.dumps(doc), "application/json")


def test_a_text_completion_with_usage():
    reply = completions.answer(_body({"model": "m", "max_tokens": 2}), "gpt-x", count(3), clock)
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert (
        reply.body
        == b'{"id":"cmpl-mock3","object":"text_completion","created":1700000000,"model":"gpt-x","choices":[{"text":"This is ","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}'
    )
    assert reply.usage == Usage(7, 2, 0)


def test_a_stream_with_the_usage_chunk_the_client_asked_for():
    doc = {"model": "m", "max_tokens": 1, "stream": True, "stream_options": {"include_usage": True}}
    reply = completions.answer(_body(doc), "gpt-x", count(4), clock)
    assert reply.content_type == "text/event-stream"
    assert reply.events == [
        b'data: {"id":"cmpl-mock4","object":"text_completion","created":1700000000,"model":"gpt-x","choices":[{"text":"This ","index":0,"logprobs":null,"finish_reason":null}]}\n\n',
        b'data: {"id":"cmpl-mock4","object":"text_completion","created":1700000000,"model":"gpt-x","choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}]}\n\n',
        b'data: {"id":"cmpl-mock4","object":"text_completion","created":1700000000,"model":"gpt-x","choices":[],"usage":{"prompt_tokens":21,"completion_tokens":1,"total_tokens":22,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}\n\n',
        b"data: [DONE]\n\n",
    ]


def test_a_stream_has_no_usage_unless_asked():
    reply = completions.answer(_body({"model": "m", "stream": True}), "gpt-x", count(1), clock)
    assert all(b'"usage"' not in event for event in reply.events)
