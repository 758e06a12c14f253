"""Token usage as providers report it, normalised.

OpenAI (chat, completions, embeddings): prompt_tokens / completion_tokens,
prompt_tokens_details.cached_tokens. Responses API: input_tokens /
output_tokens, input_tokens_details.cached_tokens. Anthropic: input_tokens
(excluding cache), cache_read_input_tokens, cache_creation_input_tokens,
output_tokens. Normalised: `input_tokens` counts every prompt token,
`cached_tokens` is the part served from the provider's cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None

    @property
    def is_known(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None

    def merge(self, usage: Mapping[str, Any]) -> None:
        """Take every count `usage` states; later events overwrite earlier ones."""
        prompt = _count(usage.get("prompt_tokens"))
        if prompt is None:
            prompt = _count(usage.get("input_tokens"))
        cache_read = _count(usage.get("cache_read_input_tokens"))
        cache_write = _count(usage.get("cache_creation_input_tokens"))
        if prompt is not None:
            self.input_tokens = prompt + (cache_read or 0) + (cache_write or 0)
        if cache_read is not None:
            self.cached_tokens = cache_read
        else:
            details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
            if isinstance(details, Mapping):
                cached = _count(details.get("cached_tokens"))
                if cached is not None:
                    self.cached_tokens = cached
        completion = _count(usage.get("completion_tokens"))
        if completion is None:
            completion = _count(usage.get("output_tokens"))
        if completion is not None:
            self.output_tokens = completion


def find_usage(event: Any) -> Mapping[str, Any] | None:
    """The usage object of a response or stream event, wherever the provider puts it."""
    if not isinstance(event, dict):
        return None
    usage = event.get("usage")
    if isinstance(usage, dict):
        return usage
    for holder in ("response", "message"):  # Responses API events; Anthropic message_start
        inner = event.get(holder)
        if isinstance(inner, dict) and isinstance(inner.get("usage"), dict):
            usage = inner["usage"]
            assert isinstance(usage, dict)
            return usage
    return None


def usage_from_body(body: bytes) -> Usage | None:
    """Usage of a JSON response body, reading only its top-level `usage` object.

    A JSON string cannot hold a bare `"usage"` (its quotes would be escaped), so
    the last `"usage":{` in the body is the key; only that object is parsed.
    """
    at = body.rfind(b'"usage"')
    if at < 0:
        return None
    segment = object_after_key(body, at + 7)
    if segment is None:
        return None
    try:
        found = orjson.loads(segment)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(found, dict):
        return None
    usage = Usage()
    usage.merge(found)
    return usage if usage.is_known else None


def object_after_key(data: bytes, pos: int) -> bytes | None:
    """The `{...}` that follows a key ending at `pos` (skipping `:` and spaces)."""
    end = len(data)
    while pos < end and data[pos] in b" \t\r\n:":
        pos += 1
    if pos >= end or data[pos] != 0x7B:  # "{"
        return None
    depth, scan = 1, pos + 1
    while depth:  # usage objects hold no strings with braces: count them
        close = data.find(b"}", scan)
        if close < 0:
            return None
        depth += data.count(b"{", scan, close) - 1
        scan = close + 1
    return data[pos:scan]


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
