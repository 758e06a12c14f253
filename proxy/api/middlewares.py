"""The one place errors become responses.

`ProxyError`s render as SPEC's OpenAI-shaped JSON with their status; aiohttp's
own HTTP errors (no route, method not allowed, body too large) are mapped to the
same shape; anything else is logged with its traceback and request id and
becomes a 500 `internal_error` that reveals nothing.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from proxy import keys
from proxy.errors import (
    InternalError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    ProxyError,
    RequestTooLargeError,
)

log = logging.getLogger("proxy.api")

REQUEST_ID = "request_id"  # request-scoped: the id the response carries


def error_response(error: ProxyError, request_id: str | None) -> web.Response:
    headers = {"x-request-id": request_id} if request_id else None
    response = web.Response(
        body=error.body(), status=error.status, content_type="application/json", headers=headers
    )
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(int(retry_after))
    return response


def _from_http_exception(exc: web.HTTPException) -> ProxyError:
    if exc.status == 404:
        return NotFoundError("Unknown path.")
    if exc.status == 405:
        return MethodNotAllowedError("This method is not allowed on this path.")
    if exc.status == 413:
        return RequestTooLargeError("The request body is too large.")
    if exc.status < 500:
        error: ProxyError = InvalidRequestError(exc.reason or "Bad request.")
        error.status = exc.status
        return error
    return InternalError("Internal error.")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProxyError as e:
        return error_response(e, _request_id(request))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return error_response(_from_http_exception(e), _request_id(request))
    except Exception:
        request_id = _request_id(request)
        log.exception("unhandled error", extra={"request_id": request_id, "path": request.path})
        return error_response(
            InternalError(f"Internal error (request id {request_id})."), request_id
        )


def _request_id(request: web.Request) -> str:
    found = request.get(REQUEST_ID)
    if isinstance(found, str):
        return found
    return request.app[keys.IDS].request_id(request.headers.get("X-Request-ID"))
