"""Server-sent events read from upstream bytes and written for the client.

`SSEReader` holds only the unfinished line and the data lines of the event being
read, so a stream of any length is read in constant memory (one event at most).
"""

from __future__ import annotations

import orjson

_DATA = b"data:"
_EVENT = b"event:"


class SSEReader:
    """Complete events (`event` name or b"", joined `data`) from chunks split anywhere."""

    __slots__ = ("_partial", "_event", "_data")

    def __init__(self) -> None:
        self._partial = b""
        self._event = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        """The events a chunk completes; its unfinished last line is held for the next."""
        lines = (self._partial + chunk if self._partial else chunk).split(b"\n")
        self._partial = lines.pop()
        events: list[tuple[bytes, bytes]] = []
        for line in lines:
            self._read_line(line[:-1] if line.endswith(b"\r") else line, events)
        return events

    def close(self) -> list[tuple[bytes, bytes]]:
        """The last event when the stream ended without its blank line."""
        events: list[tuple[bytes, bytes]] = []
        if self._partial:
            self._read_line(self._partial.rstrip(b"\r"), events)
            self._partial = b""
        self._read_line(b"", events)
        return events

    def _read_line(self, line: bytes, events: list[tuple[bytes, bytes]]) -> None:
        if not line:
            if self._data:
                events.append((self._event, b"\n".join(self._data)))
            self._event, self._data = b"", []
        elif line.startswith(_DATA):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
        elif line.startswith(_EVENT):
            self._event = line[6:].strip()


def data_event(payload: bytes) -> bytes:
    """An OpenAI-style event: a data line and a blank line."""
    return b"data: " + payload + b"\n\n"


def named_event(name: bytes, document: object) -> bytes:
    """An Anthropic-style event: `event: <name>`, its JSON data line, a blank line."""
    return b"event: " + name + b"\ndata: " + orjson.dumps(document) + b"\n\n"


DONE = b"data: [DONE]\n\n"
