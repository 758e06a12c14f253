"""Upstream error bodies in the client's format; the status stays the upstream's.

OpenAI: `{"error": {"message", "type", "param", "code"}}`. Anthropic: `{"type":
"error", "error": {"type", "message"}}`. Anthropic's error types are named after the
status (SPEC's reference: invalid_request_error 400, authentication_error 401,
permission_error 403, not_found_error 404, request_too_large 413, rate_limit_error 429,
api_error 500, overloaded_error 529); OpenAI clients get those types as they are, except
`api_error`, which is OpenAI's `server_error`. A body that is not the expected JSON
(an HTML page from a load balancer) is not repeated: the message names the status.
"""

from __future__ import annotations

from typing import Any

import orjson

_ANTHROPIC_TYPE_OF_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def anthropic_error_to_openai(status: int, body: bytes) -> bytes:
    """An OpenAI error body for an Anthropic one."""
    error = _error_object(body)
    kind = error.get("type") or _anthropic_type(status)
    return orjson.dumps(
        {
            "error": {
                "message": _message(error, status),
                "type": "server_error" if kind == "api_error" else kind,
                "param": None,
                "code": None,
            }
        }
    )


def openai_error_to_anthropic(status: int, body: bytes) -> bytes:
    """An Anthropic error body for an OpenAI one; the type follows the status."""
    error = _error_object(body)
    return orjson.dumps(
        {
            "type": "error",
            "error": {"type": _anthropic_type(status), "message": _message(error, status)},
        }
    )


def _anthropic_type(status: int) -> str:
    return _ANTHROPIC_TYPE_OF_STATUS.get(
        status, "invalid_request_error" if status < 500 else "api_error"
    )


def _error_object(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    error = doc.get("error") if isinstance(doc, dict) else None
    return error if isinstance(error, dict) else {}


def _message(error: dict[str, Any], status: int) -> str:
    message = error.get("message")
    return message if isinstance(message, str) and message else f"upstream answered {status}"
