"""The mock's Responses API answers, byte for byte as they have always been."""

from __future__ import annotations

from itertools import count

import orjson

from proxy.body import RequestBody, inspect_body
from proxy.providers.mock import responses
from proxy.streaming.usage import Usage


def clock() -> float:
    return 1_700_000_000.5


def _body(doc: dict[str, object]) -> RequestBody:
    return inspect_body(orjson.dumps(doc), "application/json")


def test_a_response_with_responses_usage():
    reply = responses.answer(
        _body({"model": "r", "max_output_tokens": 2}), "gpt-x", count(7), clock
    )
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert (
        reply.body
        == b'{"id":"resp_mock7","object":"response","created_at":1700000000,"status":"completed","model":"gpt-x","output":[{"type":"message","id":"msg_mock7","status":"completed","role":"assistant","content":[{"type":"output_text","text":"This is ","annotations":[]}]}],"usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":0},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":11}}'
    )
    assert reply.usage == Usage(9, 2, 0)


def test_a_stream_numbers_its_events_and_ends_with_response_completed():
    doc = {"model": "r", "max_output_tokens": 1, "stream": True}
    reply = responses.answer(_body(doc), "gpt-x", count(8), clock)
    assert reply.events == [
        b'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"resp_mock8","object":"response","created_at":1700000000,"status":"in_progress","model":"gpt-x","output":[],"usage":null}}\n\n',
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_mock8","output_index":0,"content_index":0,"delta":"This "}\n\n',
        b'event: response.completed\ndata: {"type":"response.completed","sequence_number":2,"response":{"id":"resp_mock8","object":"response","created_at":1700000000,"status":"completed","model":"gpt-x","output":[{"type":"message","id":"msg_mock8","status":"completed","role":"assistant","content":[{"type":"output_text","text":"This ","annotations":[]}]}],"usage":{"input_tokens":13,"input_tokens_details":{"cached_tokens":0},"output_tokens":1,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":14}}}\n\n',
    ]
    assert reply.usage == Usage(13, 1, 0)
