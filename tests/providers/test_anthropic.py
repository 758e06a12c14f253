"""The Anthropic entry: `x-api-key`, a default `anthropic-version`, Messages usage."""

from __future__ import annotations

import orjson

from proxy.providers.anthropic import ANTHROPIC, DEFAULT_VERSION, message_usage
from proxy.streaming.usage import usage_from_body


def test_the_entry():
    assert (ANTHROPIC.name, ANTHROPIC.key_header, ANTHROPIC.key_prefix) == (
        "anthropic",
        "x-api-key",
        "",
    )
    assert ANTHROPIC.default_headers == (("anthropic-version", DEFAULT_VERSION),)
    assert DEFAULT_VERSION == "2023-06-01"
    assert ANTHROPIC.stream_usage_paths == frozenset()  # its streams always carry usage
    assert ANTHROPIC.default_api_base is None and ANTHROPIC.local is None


def test_message_usage_reads_back_as_its_counts():
    body = orjson.dumps({"usage": message_usage(12, 5)})
    assert usage_from_body(body) == (12, 5, 0)
