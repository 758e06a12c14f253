"""Reading management API requests and writing its answers: bounded JSON bodies, pages."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from proxy.errors import (
    InvalidConfigError,
    InvalidJSONError,
    InvalidRequestError,
    RequestTooLargeError,
)
from proxy.store import MAX_PAGE

MAX_BODY_BYTES = 1024 * 1024  # a request body over 1 MiB is a 413
DEFAULT_PAGE = 100


async def read_object(request: web.Request, what: str, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object (`{}` for an empty optional body)."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestTooLargeError(f"The request body exceeds {MAX_BODY_BYTES} bytes.") from None
    if optional and not raw.strip():
        return {}
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidJSONError("The request body is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise InvalidConfigError(f"{what} must be a JSON object", param=None)
    return doc


def page_args(request: web.Request) -> tuple[int, str | None]:
    """`?limit=` (default 100, 1..1000) and `?cursor=`."""
    raw = request.query.get("limit")
    limit = DEFAULT_PAGE
    if raw is not None:
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
            raise InvalidRequestError(
                f"limit must be a whole number from 1 to {MAX_PAGE}", param="limit"
            )
        limit = int(raw)
    return limit, request.query.get("cursor") or None


def json_response(doc: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(doc), status=status, content_type="application/json")
