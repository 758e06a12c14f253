"""The one place errors become responses.

`ProxyError`s render as SPEC's OpenAI-shaped JSON with their status. Anything
else is logged with its traceback and request id and becomes a 500
`internal_error` that reveals nothing. The /v1 handler calls these itself (a
middleware would cost every request a frame), and so does the JSON 404.
"""

from __future__ import annotations

import logging

from aiohttp import web

from proxy import keys
from proxy.api.paths import split_path
from proxy.errors import InternalError, NotFoundError, ProxyError

log = logging.getLogger("proxy.api")


def error_response(error: ProxyError, request_id: str | None) -> web.Response:
    response = web.Response(body=error.body(), status=error.status, content_type="application/json")
    if request_id:
        response.headers["x-request-id"] = request_id
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(int(retry_after))
    if error.closes_connection:
        response.force_close()
    return response


def internal_error_response(request: web.Request, request_id: str) -> web.Response:
    """For an exception nobody expected: log it whole, tell the client nothing."""
    log.exception("unhandled error", extra={"request_id": request_id, "path": request.path})
    return error_response(InternalError(f"Internal error (request id {request_id})."), request_id)


async def not_found(request: web.Request) -> web.Response:
    """A JSON 404, or the 400 `invalid_path` of a path no route could ever serve."""
    request_id = request.app[keys.IDS].request_id(request.headers.get("X-Request-ID"))
    try:
        split_path(request.raw_path)
    except ProxyError as e:
        return error_response(e, request_id)
    message = "Unknown path."
    if request.path.startswith("/v1/") and request.app[keys.SETTINGS].is_multi_tenant:
        message = "Unknown path: in multi-tenant mode, call /users/{user_id}/v1/..."
    return error_response(NotFoundError(message), request_id)
