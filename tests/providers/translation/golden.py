"""Golden payloads: real provider shapes in, the translation a client must receive out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from proxy.errors import ProxyError


class StreamCutError(ProxyError):
    """A stream the proxy ends itself (a test's own error: not one of proxy.errors)."""

    status, error_type, code = 502, "upstream_error", "upstream_stream_error"


GOLDEN = Path(__file__).parent.parent / "golden"


def raw(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def doc(name: str) -> Any:
    return orjson.loads(raw(name))


def sse_events(data: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of each SSE event; `[DONE]` stays a string."""
    events: list[tuple[str | None, Any]] = []
    for block in data.decode().split("\n\n"):
        if not block.strip():
            continue
        name, payload = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                payload = line[6:] if line[6:] == "[DONE]" else orjson.loads(line[6:])
        events.append((name, payload))
    return events


def chunked(data: bytes, size: int) -> list[bytes]:
    """The stream cut every `size` bytes, wherever that falls (mid-line, mid-character)."""
    return [data[at : at + size] for at in range(0, len(data), size)]
