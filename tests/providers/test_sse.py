"""SSE events as providers write them."""

from __future__ import annotations

from proxy.providers.sse import DONE_EVENT, data_event, named_event


def test_data_and_named_events_are_compact_json_ended_by_a_blank_line():
    assert data_event({"a": 1, "b": None}) == b'data: {"a":1,"b":null}\n\n'
    assert named_event("message_stop", {"type": "message_stop"}) == (
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    assert DONE_EVENT == b"data: [DONE]\n\n"
