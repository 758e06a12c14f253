"""What every mock answer shares: its text, its usage, and the mock's error answer.

The text is `REPLY_TEXT`, one token per word, cut to the request's `max_tokens`
(or `max_completion_tokens`, `max_output_tokens`); the prompt counts request
bytes / 4, rounded up.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import orjson

from proxy.body import RequestBody
from proxy.providers.provider import LocalReply
from proxy.streaming.usage import Usage

REPLY_TEXT = "This is a mock response from tenant-proxy."
Clock = Callable[[], float]


def words_and_usage(body: RequestBody) -> tuple[list[str], Usage]:
    """The reply's words (each with its trailing space but the last) and their usage."""
    words = [w + " " for w in REPLY_TEXT.split(" ")]
    words[-1] = words[-1].rstrip()
    doc = body.doc or {}
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        limit = doc.get(key)
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            words = words[:limit]
            break
    prompt = max(1, math.ceil(len(body.raw) / 4))
    return words, Usage(input_tokens=prompt, output_tokens=len(words), cached_tokens=0)


def error_reply(
    status: int,
    message: str,
    *,
    param: str | None = None,
    error_type: str = "invalid_request_error",
) -> LocalReply:
    """An OpenAI-shaped error answer, as a provider would send it."""
    doc = {"error": {"message": message, "type": error_type, "code": None, "param": param}}
    return LocalReply(status, "application/json", orjson.dumps(doc))
