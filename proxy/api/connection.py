"""One client connection, before and around its requests' handlers.

aiohttp's `RequestHandler` (one per connection) answers what its HTTP parser
refuses (a bad method, a malformed or oversized header line, a duplicate
`Content-Length`, a broken chunk) with a plain-text 400 that quotes the offending
bytes, and logs them with a traceback: a bearer token ending in a NUL went into
both. `GatewayConnection` answers every refusal in SPEC's OpenAI error shape,
naming only what kind of line was wrong, and logs only that kind.

It also bounds how long a request may take to arrive (SPEC 5.1,
`PROXY_REQUEST_TIMEOUT`): from the first bytes of a request until its body is
complete. Past the deadline the request is answered 408 `request_timeout` (by its
handler, whose body read fails, or here when its headers never came) and the
connection is closed. Keep-alive idle time is not covered (`PROXY_KEEPALIVE_TIMEOUT`).
The cost on a request is a clock read and a float store; the one timer per
connection is reused from request to request and rescheduled only when it fires.

`GatewayServer` makes these connections; `proxy.app.GatewayRunner` serves through it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    PayloadEncodingError,
)
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.web_protocol import RequestHandler, _ErrInfo
from aiohttp.web_request import BaseRequest

from proxy.api.errors import error_response
from proxy.errors import (
    ExpectationFailedError,
    InternalError,
    InvalidPathError,
    MalformedRequestError,
    ProxyError,
    RequestTimeoutError,
    UpstreamTimeoutError,
)

log = logging.getLogger("proxy.api")

# What each parser refusal tells the client: the kind of fault, never the bytes.
_REFUSALS: tuple[tuple[type[HttpProcessingError], str], ...] = (
    (BadHttpMethod, "The request method is not a valid HTTP method."),
    (BadStatusLine, "The request line is malformed."),
    (LineTooLong, "The request line or a header line is too long."),
    (InvalidHeader, "A request header line is malformed."),
    (PayloadEncodingError, "The request body's framing or encoding is malformed."),
)
_UNPARSABLE = "The request is not valid HTTP/1.1."


def refusal(status: int, exc: BaseException | None) -> ProxyError:
    """The error to answer for what aiohttp hands `handle_error`."""
    if isinstance(exc, ProxyError):
        return exc
    if isinstance(exc, InvalidURLError):
        return InvalidPathError("The request target is not a valid path.")
    if isinstance(exc, HttpProcessingError):
        for kind, message in _REFUSALS:
            if isinstance(exc, kind):
                return MalformedRequestError(message)
        return MalformedRequestError(_UNPARSABLE)
    if status == 504:
        return UpstreamTimeoutError("The request timed out.")
    return InternalError("Internal error.")


def _timed_out() -> RequestTimeoutError:
    return RequestTimeoutError("The request's headers and body did not arrive in time.")


class GatewayConnection(RequestHandler):
    __slots__ = ("_request_timeout", "_deadline", "_deadline_timer", "_arriving")

    def __init__(self, manager: web.Server, *, request_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._request_timeout = request_timeout
        self._deadline = 0.0  # when the arriving request must be complete; 0: none arriving
        self._deadline_timer: asyncio.TimerHandle | None = None
        # The body of the newest request whose headers were parsed, until it is complete.
        self._arriving: StreamReader | None = None

    def data_received(self, data: bytes) -> None:
        if not self._deadline and data:
            self._start_deadline()
        messages = self._messages
        queued = len(messages)
        super().data_received(data)
        i = queued
        while i < len(messages):
            i += self._parsed(i)
        arriving = self._arriving
        if arriving is not None and (arriving.is_eof() or arriving.exception() is not None):
            self._arriving = None
            self._deadline = 0.0

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self._arriving = None
        timer = self._deadline_timer
        if timer is not None:
            timer.cancel()
            self._deadline_timer = None

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's last resort, for parser refusals and handler failures: JSON, no bytes."""
        error = refusal(status, exc)
        if isinstance(error, InternalError) and exc is not None:
            log.error("unhandled error in a request handler", exc_info=exc)
        else:  # the client's fault, as common as the internet is hostile
            log.debug(
                "refused a request",
                extra={"reason": type(exc).__name__, "status": error.status},
            )
        if request.writer.output_size > 0:  # as aiohttp: a response is under way
            raise ConnectionError("a response was already started")
        response = error_response(error, None)
        response.force_close()
        return response

    def _parsed(self, i: int) -> int:
        """Look at the message the parser just queued at position `i`; 0 if it was
        taken out of the queue, else 1."""
        head, body = self._messages[i]
        if not isinstance(head, _ErrInfo) and (
            head.method == "CONNECT" or not head.path.startswith("/")
        ):
            # Authority-form (CONNECT host:443) and asterisk-form (OPTIONS *) targets
            # pass the parser; only origin-form is served (SPEC 5.1), before routing.
            # aiohttp reads any CONNECT target as an authority (no path, no route).
            refused = InvalidPathError("Only origin-form request targets ('/v1/...') are served.")
            self._messages[i] = (_ErrInfo(status=400, exc=refused, message=""), EMPTY_PAYLOAD)
            return 1
        arriving = self._arriving
        if isinstance(head, _ErrInfo) and arriving is not None and not arriving.is_eof():
            # The parser gave up inside the body of a request already handed to a
            # handler: that handler answers, and this connection takes no more.
            del self._messages[i]
            self._end_body(arriving, MalformedRequestError(_UNPARSABLE))
            return 0
        self._arriving = body
        return 1

    def _start_deadline(self) -> None:
        loop = self._loop
        deadline = loop.time() + self._request_timeout
        self._deadline = deadline
        if self._deadline_timer is None:
            self._deadline_timer = loop.call_at(deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        self._deadline_timer = None
        deadline = self._deadline
        if not deadline or self._force_close:
            return
        if self._loop.time() < deadline:  # a later request than the timer's: wait on
            self._deadline_timer = self._loop.call_at(deadline, self._check_deadline)
            return
        self._deadline = 0.0
        arriving = self._arriving
        if arriving is not None:
            self._arriving = None
            self._end_body(arriving, _timed_out())
            return
        # Its headers never came: answer in turn, after any request before it.
        self._close = True  # the parser reads nothing more
        self._messages.append((_ErrInfo(status=408, exc=_timed_out(), message=""), EMPTY_PAYLOAD))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _end_body(self, body: StreamReader, error: ProxyError) -> None:
        """The body of a parsed request will not arrive whole: fail its reads with
        `error` (its handler answers that) and close the connection afterwards."""
        self._close = True
        self._lingering_time = 0.0  # aiohttp would wait for the rest of the body
        handled = self._request_in_progress or any(b is body for _, b in self._messages)
        if handled:
            body.set_exception(error)
        else:  # its handler has answered already
            self.force_close()


class GatewayServer(web.Server):
    """aiohttp's `Server` as the app's runner made it, making `GatewayConnection`s."""

    def __init__(self, made: web.Server, *, request_timeout: float) -> None:
        super().__init__(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            **made._kwargs,
        )
        self._request_timeout = request_timeout

    def __call__(self) -> GatewayConnection:
        return GatewayConnection(
            self, loop=self._loop, request_timeout=self._request_timeout, **self._kwargs
        )


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """The routes' `Expect` handler: `100-continue` as aiohttp does; any other
    expectation is a JSON 417 (aiohttp's own quotes the header back in plain text)."""
    if request.version != (1, 1):
        return None
    if request.headers.get("Expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the response proper has not started
        return None
    return error_response(ExpectationFailedError("Only 'Expect: 100-continue' is supported."), None)
