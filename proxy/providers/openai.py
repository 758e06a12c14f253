"""OpenAI, and every OpenAI-compatible server (vLLM, Groq, Together, Azure via api_base).

The key goes as `Authorization: Bearer`. Chat streams report usage only when asked
(`stream_options.include_usage`), so the proxy asks. Usage objects: chat and
completions write `prompt_tokens`/`completion_tokens`, the Responses API
`input_tokens`/`output_tokens`.
"""

from __future__ import annotations

from typing import Any

from proxy.errors import ProxyError
from proxy.providers.provider import Provider
from proxy.streaming.usage import Usage

CHAT_PATH = "/v1/chat/completions"


def sse_error(error: ProxyError) -> bytes:
    """The final `data: {"error": ...}` event of a stream that broke (SPEC 12)."""
    return b"data: " + error.body() + b"\n\n"


def chat_usage(usage: Usage) -> dict[str, Any]:
    """A chat or completions `usage` object."""
    prompt, completion = usage.input_tokens or 0, usage.output_tokens or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens or 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def responses_usage(usage: Usage) -> dict[str, Any]:
    """A Responses API `usage` object."""
    prompt, completion = usage.input_tokens or 0, usage.output_tokens or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens or 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


OPENAI = Provider(
    name="openai",
    key_header="Authorization",
    key_prefix="Bearer ",
    sse_error=sse_error,
    stream_usage_paths=frozenset({CHAT_PATH}),
)
