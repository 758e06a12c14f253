"""Anthropic's native Messages API.

The key goes as `x-api-key`, with `anthropic-version` (the client's, else
`DEFAULT_VERSION`). Streams always carry usage (`message_start`, `message_delta`).
Usage objects count `input_tokens` without the cache reads and writes, which have
their own fields.
"""

from __future__ import annotations

from proxy.errors import ProxyError
from proxy.providers.provider import Provider
from proxy.providers.sse import named_event

DEFAULT_VERSION = "2023-06-01"


def message_usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    """A Messages `usage` object for a request that used no prompt cache."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def sse_error(error: ProxyError) -> bytes:
    """The final `event: error` of a stream that broke (SPEC 12), in Anthropic's form."""
    return named_event(
        "error", {"type": "error", "error": {"type": "api_error", "message": error.message}}
    )


ANTHROPIC = Provider(
    name="anthropic",
    key_header="x-api-key",
    key_prefix="",
    default_headers=(("anthropic-version", DEFAULT_VERSION),),
    sse_error=sse_error,
)
