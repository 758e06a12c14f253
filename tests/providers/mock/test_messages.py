"""The mock's Anthropic Messages answers, byte for byte as they have always been."""

from __future__ import annotations

from itertools import count

import orjson

from proxy.body import RequestBody, inspect_body
from proxy.providers.mock import messages
from proxy.streaming.usage import Usage


def clock() -> float:
    return 1_700_000_000.5


def _body(doc: dict[str, object]) -> RequestBody:
    return inspect_body(orjson.dumps(doc), "application/json")


def test_a_message_with_anthropic_usage():
    reply = messages.answer(_body({"model": "c", "max_tokens": 2}), "gpt-x", count(5), clock)
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert (
        reply.body
        == b'{"id":"msg_mock5","type":"message","role":"assistant","model":"gpt-x","content":[{"type":"text","text":"This is "}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":2,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}'
    )
    assert reply.usage == Usage(7, 2, 0)


def test_a_stream_of_named_events_from_message_start_to_message_stop():
    doc = {"model": "c", "max_tokens": 1, "stream": True}
    reply = messages.answer(_body(doc), "gpt-x", count(6), clock)
    assert reply.content_type == "text/event-stream"
    assert reply.events == [
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_mock6","type":"message","role":"assistant","model":"gpt-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}\n\n',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"This "}}\n\n',
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1}}\n\n',
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ]
    assert reply.usage == Usage(11, 1, 0)
