"""Server-sent events as providers write them: one JSON document per event.

OpenAI chat and completions streams write bare `data:` events and end with
`data: [DONE]`; Anthropic Messages and the OpenAI Responses API name each event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

DONE_EVENT = b"data: [DONE]\n\n"


def data_event(doc: Mapping[str, Any]) -> bytes:
    """`data: {...}` and the blank line that ends the event."""
    return b"data: " + orjson.dumps(doc) + b"\n\n"


def named_event(name: str, doc: Mapping[str, Any]) -> bytes:
    """`event: <name>`, `data: {...}` and the blank line that ends the event."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(doc) + b"\n\n"
