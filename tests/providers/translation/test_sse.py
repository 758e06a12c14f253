"""SSEReader: whole events from chunks cut anywhere, LF or CRLF; the event writers."""

from __future__ import annotations

import pytest

from proxy.providers.translation.sse import DONE, SSEReader, data_event, named_event

STREAM = (
    b": keep-alive comment\r\n"
    b"event: message_start\r\n"
    b'data: {"a":1}\r\n'
    b"\r\n"
    b"data:no-space\n"
    b"data:  two spaces\n"
    b"\n"
    b"\n"  # a blank line with no data makes no event
    b"event: multi\n"
    b"data: first\n"
    b"data: second\n"
    b"\n"
)
EVENTS = [
    (b"message_start", b'{"a":1}'),
    (b"", b"no-space\n two spaces"),  # one leading space is the separator, the rest is data
    (b"multi", b"first\nsecond"),
]


def _read(chunks: list[bytes]) -> list[tuple[bytes, bytes]]:
    reader = SSEReader()
    events = [event for chunk in chunks for event in reader.feed(chunk)]
    return events + reader.close()


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, len(STREAM)])
def test_events_are_the_same_wherever_the_chunks_are_cut(size):
    assert _read([STREAM[at : at + size] for at in range(0, len(STREAM), size)]) == EVENTS


def test_a_crlf_cut_between_its_cr_and_lf_is_one_line_end():
    reader = SSEReader()
    assert reader.feed(b"data: x\r") == []
    assert reader.feed(b"\n\r") == []
    assert reader.feed(b"\n") == [(b"", b"x")]


def test_an_event_is_given_as_soon_as_its_blank_line_arrives_and_not_before():
    reader = SSEReader()
    assert reader.feed(b"event: e\ndata: 1\n") == []
    assert reader.feed(b"\n") == [(b"e", b"1")]
    assert reader.feed(b"data: 2\n\n") == [(b"", b"2")]  # the name does not carry over


def test_close_gives_the_last_event_when_the_stream_ended_without_its_blank_line():
    reader = SSEReader()
    assert reader.feed(b"data: [DONE]") == []
    assert reader.close() == [(b"", b"[DONE]")]
    assert reader.close() == []
    held = SSEReader()
    held.feed(b"event: x\ndata: y\r\n")
    assert held.close() == [(b"x", b"y")]


def test_the_writers_make_one_event_each():
    assert data_event(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert named_event(b"ping", {"type": "ping"}) == b'event: ping\ndata: {"type":"ping"}\n\n'
    assert DONE == b"data: [DONE]\n\n"
    assert _read([named_event(b"ping", {"type": "ping"}) + DONE]) == [
        (b"ping", b'{"type":"ping"}'),
        (b"", b"[DONE]"),
    ]
