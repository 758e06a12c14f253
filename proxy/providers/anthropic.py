"""Anthropic's native Messages API.

The key goes as `x-api-key`, with `anthropic-version` (the client's, else
`DEFAULT_VERSION`). Streams always carry usage (`message_start`, `message_delta`).
Usage objects count `input_tokens` without the cache reads and writes, which have
their own fields.
"""

from __future__ import annotations

from proxy.providers import openai
from proxy.providers.provider import Provider

DEFAULT_VERSION = "2023-06-01"


def message_usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    """A Messages `usage` object for a request that used no prompt cache."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


ANTHROPIC = Provider(
    name="anthropic",
    key_header="x-api-key",
    key_prefix="",
    default_headers=(("anthropic-version", DEFAULT_VERSION),),
    # Broken streams end with the OpenAI-shaped event for now, as they always have;
    # SPEC 12's `event: error` for Anthropic clients is a change to this line.
    sse_error=openai.sse_error,
)
