"""The /v1/* hot path: route, config, auth, forward, relay, record.

One `ProxyHandler` per app, built at startup with its collaborators. A request:
validate the path -> authenticate -> tenant config -> read and inspect the body
-> pick the route -> forward on the shared ClientSession (or answer from the
in-process mock) -> relay the answer untouched (JSON whole, SSE chunk by chunk)
-> emit exactly one usage record, whatever happened.
"""

from __future__ import annotations

import asyncio
import io
import time
from time import perf_counter

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError

from proxy.accounting.cost import PriceBook
from proxy.api.errors import error_response, internal_error_response
from proxy.api.models import is_models_path, models_response
from proxy.api.paths import split_path, split_user_path
from proxy.errors import (
    InvalidEncodingError,
    MalformedRequestError,
    MethodNotAllowedError,
    ProxyError,
    RequestTooLargeError,
)
from proxy.ids import IdGenerator
from proxy.lifecycle import Lifecycle
from proxy.streaming.sse import SSETracker
from proxy.streaming.text import text_fields
from proxy.streaming.usage import Usage, settle_stream, usage_from_body
from proxy.telemetry.metrics import Metrics
from proxy.tenancy.auth import Authenticator
from proxy.tenancy.config import Route
from proxy.tenancy.source import TenantSource
from proxy.throttled_log import RateLimitedLog
from proxy.upstream.body import (
    RequestBody,
    check_content_encoding,
    inspect_body,
    upstream_body,
)
from proxy.upstream.error_body import read_error_body
from proxy.upstream.forward import TRANSPORT_ERRORS, Timeouts, UpstreamURLs, transport_error
from proxy.upstream.headers import copy_response_headers, upstream_headers
from proxy.upstream.mock import MockProvider
from proxy.usage_record import UsageRecord, UsageSink

_CHAT = "/v1/chat/completions"
# aiohttp sends bytes over 1 MiB in one write and warns; a BytesIO goes in chunks.
_LARGE_BODY = 1 << 20
PROXIED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_LABEL = "(default)"
_NO_MODEL_LABEL = "(none)"


class ClientGoneError(ProxyError):
    """The client disconnected; nobody will read this response."""

    status, error_type, code = 499, "invalid_request_error", "client_disconnected"


class _CoalescingStreamResponse(web.StreamResponse):
    """A stream whose headers leave with its first body bytes, in one write.

    aiohttp's `Response` buffers its headers this way; a `StreamResponse` sends them
    at `prepare()` unless this (private) switch is off. The relay writes an empty
    chunk to send them at once when no body has arrived yet, and hands the last
    chunk to `write_eof`, so a stream that arrives whole leaves in one write, not
    three. Should aiohttp drop the switch, headers simply go out at `prepare()`.
    """

    _send_headers_immediately = False


class _Exchange:
    """What the proxy learns about one request as it goes."""

    __slots__ = ("record", "started", "route", "label", "upstream_s")

    def __init__(self, record: UsageRecord, started: float) -> None:
        self.record = record
        self.started = started
        self.route: Route | None = None
        self.label = _NO_MODEL_LABEL
        self.upstream_s: float | None = None


class ProxyHandler:
    def __init__(
        self,
        *,
        tenants: TenantSource,
        auth: Authenticator,
        session: aiohttp.ClientSession,
        lifecycle: Lifecycle,
        sink: UsageSink,
        metrics: Metrics,
        warnings: RateLimitedLog,
        ids: IdGenerator,
        prices: PriceBook,
        mock: MockProvider,
        max_body_bytes: int,
        connect_timeout: float,
        multi_tenant: bool = False,
    ) -> None:
        self._multi_tenant = multi_tenant
        self._tenants = tenants
        self._auth = auth
        self._session = session
        self._lifecycle = lifecycle
        self._sink = sink
        self._metrics = metrics
        self._warnings = warnings
        self._ids = ids
        self._prices = prices
        self._mock = mock
        self._max_body = max_body_bytes
        self._too_large = f"The request body exceeds {max_body_bytes} bytes."
        self._timeouts = Timeouts(connect_timeout)
        self._urls = UpstreamURLs()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve a `/v1/...` (static) or `/users/{user_id}/v1/...` (multi-tenant) request."""
        started = perf_counter()
        request_id = self._ids.request_id(request.headers.get("X-Request-ID"))
        record = UsageRecord(
            self._ids.event_id(), request_id, time.time(), request.method, request.path
        )
        ex = _Exchange(record, started)
        metrics = self._metrics
        metrics.in_flight += 1
        try:
            return await self._serve(request, ex)
        except ProxyError as e:
            record.status, record.error = e.status, e.code
            kind = getattr(e, "kind", None)
            if kind is not None:
                metrics.upstream_error(kind)
            return error_response(e, request_id)
        except asyncio.CancelledError:
            record.status, record.error = 499, "client_disconnected"
            raise
        except Exception:
            record.status, record.error = 500, "internal_error"
            return internal_error_response(request, request_id)
        finally:
            metrics.in_flight -= 1
            self._finish(ex)

    async def _serve(self, request: web.Request, ex: _Exchange) -> web.StreamResponse:
        record = ex.record
        # Only the target's path and query are used: never its scheme or host, nor Host.
        path, query = split_path(request.raw_path)
        if self._multi_tenant:
            record.tenant, path = split_user_path(path)
        if request.method not in PROXIED_METHODS:
            raise MethodNotAllowedError(f"{request.method} is not allowed on /v1 paths.")
        record.endpoint = path
        pending = self._auth.authenticate(request.headers, record.tenant)
        if pending is not None:  # a proxy token not checked lately: one store query
            await pending
        config = self._tenants.cached(record.tenant)
        if config is None:
            config = await self._tenants.config_for(record.tenant)
        if path.startswith("/v1/models") and is_models_path(request.method, path):
            record.status = 200
            local = models_response(config, path)
            local.headers["x-request-id"] = record.request_id
            return local
        encoding = request.headers.get("Content-Encoding")
        if encoding:
            check_content_encoding(encoding)
        try:
            raw = await request.read()  # decoded; bounded by the app's client_max_size
        except web.HTTPRequestEntityTooLarge:
            raise RequestTooLargeError(
                f"The request body exceeds {self._max_body} bytes."
            ) from None
        except ConnectionError:
            raise ClientGoneError("The client disconnected while sending the body.") from None
        except web.RequestPayloadError as e:  # its message may quote the body: never repeated
            if isinstance(e.__cause__, ContentEncodingError):
                raise InvalidEncodingError(
                    f"The request body is not valid {encoding} data.", param="Content-Encoding"
                ) from None
            raise MalformedRequestError("The request body is malformed.") from None
        body = inspect_body(raw, request.headers.get("Content-Type", "").lower())
        model = body.model
        record.model = model
        record.stream = body.stream
        route = config.route_for(model)
        ex.route = route
        record.upstream_model = route.upstream_model or model
        record.provider = route.provider
        if model is not None:
            ex.label = model if model in config.routes else _DEFAULT_LABEL
        if route.is_mock:
            return await self._serve_mock(request, ex, route, path, body)
        add_usage = (
            body.stream and route.provider == "openai" and path == _CHAT and not body.asks_usage
        )
        payload = upstream_body(body, route, add_usage=add_usage)
        headers = upstream_headers(request.headers, route)
        url = self._urls.get(route.api_base, path, query)
        start_wall = time.time()
        start = perf_counter()
        try:
            upstream = await self._session.request(
                request.method,
                url,
                headers=headers,
                data=(payload if len(payload) <= _LARGE_BODY else io.BytesIO(payload)) or None,
                timeout=self._timeouts.for_route(route.timeout_s),
                allow_redirects=False,
            )
        except TRANSPORT_ERRORS as e:
            raise transport_error(e, url, started=False, warnings=self._warnings) from None
        done = False
        try:
            if upstream.status < 300 and upstream.content_type == "text/event-stream":
                response = await self._relay_stream(
                    request, ex, upstream, start_wall, start, add_usage, len(body.raw)
                )
            else:
                response = await self._relay_body(request, ex, route, upstream, start_wall, start)
            done = True
            return response
        finally:
            if done:
                upstream.release()
            else:
                upstream.close()  # an unfinished upstream body: drop the connection

    async def _relay_body(
        self,
        request: web.Request,
        ex: _Exchange,
        route: Route,
        upstream: aiohttp.ClientResponse,
        start_wall: float,
        start: float,
    ) -> web.Response:
        status = upstream.status
        try:
            if 200 <= status < 300:
                data = await upstream.read()
            else:  # an error answer, whatever its content type: bounded, key masked
                key = route.api_key or request.headers.get("X-Provider-API-Key")
                data, whole = await read_error_body(upstream.content, key)
                if not whole:
                    upstream.close()  # the rest of the body is not read: drop the connection
        except TRANSPORT_ERRORS as e:
            raise transport_error(e, upstream.url, started=True, warnings=self._warnings) from None
        stop_wall = time.time()
        ex.upstream_s = perf_counter() - start
        ex.record.status = status
        if "json" in upstream.content_type:
            usage = usage_from_body(data)
            if usage is not None:
                record = ex.record
                record.input_tokens, record.output_tokens, record.cached_tokens = usage
        response = web.Response(body=data, status=status)
        copy_response_headers(upstream.headers, response.headers)
        self._stamp(response, ex, start_wall, stop_wall)
        return response

    async def _relay_stream(
        self,
        request: web.Request,
        ex: _Exchange,
        upstream: aiohttp.ClientResponse,
        start_wall: float,
        start: float,
        drop_usage_chunk: bool,
        prompt_bytes: int,
    ) -> web.StreamResponse:
        stop_wall = time.time()  # streaming: "stop" is when the upstream's headers arrived
        ex.record.status = upstream.status
        response = _CoalescingStreamResponse(status=upstream.status)
        copy_response_headers(upstream.headers, response.headers)
        self._stamp(response, ex, start_wall, stop_wall)
        tracker = SSETracker(
            drop_usage_chunk=drop_usage_chunk, text=text_fields(ex.record.endpoint)
        )
        failure: ProxyError | None = None
        content = upstream.content
        last = b""  # what goes out with the end of the response, in its write
        try:
            await response.prepare(request)
            if not content.total_bytes:
                await response.write(b"")  # no body yet: the client gets the headers now
            while chunk := await content.readany():
                out = tracker.feed(chunk)
                if content.at_eof():
                    last = out
                    break
                await response.write(out)  # even b"": the headers must not wait for a line end
            last += tracker.finish()
        except TRANSPORT_ERRORS as e:
            failure = transport_error(e, upstream.url, started=True, warnings=self._warnings)
        except ConnectionError:
            raise ClientGoneError("The client disconnected mid-stream.") from None
        finally:  # also when cancelled: a client that left is billed for what it got
            ex.upstream_s = perf_counter() - start
            usage = tracker.usage
            if settle_stream(usage, tracker.text_chars, prompt_bytes):
                ex.record.usage_estimated = True
            _take_usage(ex.record, usage)
        if failure is not None:
            ex.record.error = failure.code
            self._metrics.upstream_error(getattr(failure, "kind", "other"))
            last = failure.sse_event()
        try:
            await response.write_eof(last)
        except ConnectionError:
            raise ClientGoneError("The client disconnected mid-stream.") from None
        return response

    async def _serve_mock(
        self, request: web.Request, ex: _Exchange, route: Route, path: str, body: RequestBody
    ) -> web.StreamResponse:
        start_wall = time.time()
        start = perf_counter()
        if route.mock_latency_ms:
            await asyncio.sleep(route.mock_latency_ms / 1000)
        reply = self._mock.reply(path, body, route.upstream_model or body.model or "mock")
        stop_wall = time.time()
        ex.upstream_s = perf_counter() - start
        ex.record.status = reply.status
        if reply.usage.is_known:
            _take_usage(ex.record, reply.usage)
        response: web.StreamResponse
        if reply.events:
            response = _CoalescingStreamResponse(status=reply.status)
        else:
            response = web.Response(body=reply.body, status=reply.status)
        response.headers["Content-Type"] = reply.content_type
        self._stamp(response, ex, start_wall, stop_wall)
        if not reply.events:
            return response
        try:
            await response.prepare(request)
            await response.write_eof(b"".join(reply.events))
        except ConnectionError:
            raise ClientGoneError("The client disconnected mid-stream.") from None
        return response

    def _stamp(
        self, response: web.StreamResponse, ex: _Exchange, start_wall: float, stop_wall: float
    ) -> None:
        """Request id and timing headers; `Connection: close` while the worker drains."""
        if self._lifecycle.draining:
            response.force_close()
        headers = response.headers
        upstream_ms = (stop_wall - start_wall) * 1000
        proxy_ms = (perf_counter() - ex.started) * 1000 - upstream_ms
        # These names never come from upstream (see upstream.headers), so `add` is
        # safe; %-formatting is measurably cheaper than f-strings for floats here.
        add = headers.add
        add("x-request-id", ex.record.request_id)
        add("x-upstream-request-start", "%.6f" % start_wall)  # noqa: UP031
        add("x-upstream-request-stop", "%.6f" % stop_wall)  # noqa: UP031
        add(
            "Server-Timing",
            "proxy;dur=%.3f, upstream;dur=%.3f"  # noqa: UP031
            % (proxy_ms if proxy_ms > 0 else 0.0, upstream_ms),
        )

    def _finish(self, ex: _Exchange) -> None:
        record = ex.record
        elapsed = perf_counter() - ex.started
        upstream_s = ex.upstream_s
        record.duration_ms = round(elapsed * 1000, 3)
        if upstream_s is not None:
            record.upstream_ms = round(upstream_s * 1000, 3)
        route = ex.route
        if route is not None and (
            record.input_tokens is not None or record.output_tokens is not None
        ):
            record.cost_usd = self._prices.cost(
                self._prices.price(route, record.model),
                record.input_tokens,
                record.output_tokens,
                record.cached_tokens,
            )
        self._metrics.request_done(
            ex.label, record.status, max(elapsed - (upstream_s or 0.0), 0.0), upstream_s
        )
        self._sink.emit(record)


def _take_usage(record: UsageRecord, usage: Usage) -> None:
    record.input_tokens = usage.input_tokens
    record.output_tokens = usage.output_tokens
    record.cached_tokens = usage.cached_tokens
