"""The mock's Chat Completions answers, byte for byte as they have always been."""

from __future__ import annotations

from itertools import count

import orjson

from proxy.body import RequestBody, inspect_body
from proxy.providers.mock import chat
from proxy.streaming.usage import Usage


def clock() -> float:
    return 1_700_000_000.5


def _body(doc: dict[str, object]) -> RequestBody:
    return inspect_body(orjson.dumps(doc), "application/json")


def test_a_completion_is_cut_to_max_tokens_and_carries_usage():
    reply = chat.answer(_body({"model": "m", "max_tokens": 2}), "gpt-x", count(1), clock)
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert (
        reply.body
        == b'{"id":"chatcmpl-mock1","created":1700000000,"model":"gpt-x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"This is ","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":null}'
    )
    assert reply.usage == Usage(7, 2, 0)


def test_a_stream_ends_with_a_usage_chunk_when_the_client_asks():
    doc = {"model": "m", "max_tokens": 1, "stream": True, "stream_options": {"include_usage": True}}
    reply = chat.answer(_body(doc), "gpt-x", count(2), clock)
    assert (reply.status, reply.content_type, reply.body) == (200, "text/event-stream", b"")
    assert reply.events == [
        b'data: {"id":"chatcmpl-mock2","created":1700000000,"model":"gpt-x","object":"chat.completion.chunk","system_fingerprint":null,"usage":null,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n',
        b'data: {"id":"chatcmpl-mock2","created":1700000000,"model":"gpt-x","object":"chat.completion.chunk","system_fingerprint":null,"usage":null,"choices":[{"index":0,"delta":{"content":"This "},"logprobs":null,"finish_reason":null}]}\n\n',
        b'data: {"id":"chatcmpl-mock2","created":1700000000,"model":"gpt-x","object":"chat.completion.chunk","system_fingerprint":null,"usage":null,"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n',
        b'data: {"id":"chatcmpl-mock2","created":1700000000,"model":"gpt-x","object":"chat.completion.chunk","system_fingerprint":null,"usage":{"prompt_tokens":21,"completion_tokens":1,"total_tokens":22,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"choices":[]}\n\n',
        b"data: [DONE]\n\n",
    ]
    assert reply.usage == Usage(21, 1, 0)


def test_a_stream_has_no_usage_unless_asked():
    reply = chat.answer(_body({"model": "m", "stream": True}), "gpt-x", count(1), clock)
    assert reply.events[-1] == b"data: [DONE]\n\n"
    assert all(b'"usage"' not in event for event in reply.events)
    assert len(reply.events) == 1 + 7 + 1 + 1  # role, seven words, stop, [DONE]
