"""The relay stage: the exchange's answer, written to the client.

A JSON (or any non-SSE) answer goes whole, once the upstream has sent all of it;
a 2xx SSE answer goes chunk by chunk as it arrives, through `streaming.sse.SSETracker`
(which only sees bytes); an in-process answer goes as the provider made it. An error
answer (outside 2xx), SSE or not, is never streamed: it is read whole, bounded, with
the upstream key masked (`upstream.error_body`). A stream that ends without stated
usage, cut or abandoned included, is billed from what it relayed
(`streaming.usage.settle_stream`). Bodies are never re-encoded, except when the
answering route speaks the other format (`call.translation`, SPEC 13): a JSON or
error answer is translated whole, a stream event by event as it arrives, through
the pair's stream translator in place of the SSETracker. A stream the upstream broke
ends with one error event in the client's format and a 502 record (SPEC 12). Every response gets
the request id and the timing headers, and `Connection: close` while the worker
drains. The upstream connection goes back to the pool when its answer was read to
the end, and is closed otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from time import perf_counter

from aiohttp import web

from proxy.errors import ClientGoneError, ProxyError, UpstreamStreamError
from proxy.lifecycle import Lifecycle
from proxy.providers import LocalReply, client_sse_error
from proxy.providers.translation import StreamTranslator, Translation
from proxy.streaming.sse import SSETracker
from proxy.streaming.text import TextCounter, text_fields
from proxy.streaming.usage import Usage, settle_stream, usage_from_body
from proxy.telemetry.metrics import Metrics
from proxy.throttled_log import RateLimitedLog
from proxy.upstream.call import Call
from proxy.upstream.error_body import read_error_body
from proxy.upstream.exchange import Answer
from proxy.upstream.headers import copy_response_headers
from proxy.upstream.send import TRANSPORT_ERRORS, transport_error
from proxy.upstream.wire import UpstreamResponse

_upstream_log = logging.getLogger("proxy.upstream")
_COUNTS = tuple(str(n) for n in range(16))  # x-proxy-attempts values, made once


class _CoalescingStreamResponse(web.StreamResponse):
    """A stream whose headers leave with its first body bytes, in one write.

    aiohttp's `Response` buffers its headers this way; a `StreamResponse` sends them
    at `prepare()` unless this (private) switch is off. The relay writes an empty
    chunk to send them at once when no body has arrived yet, and hands the last
    chunk to `write_eof`, so a stream that arrives whole leaves in one write, not
    three. Should aiohttp drop the switch, headers simply go out at `prepare()`.
    """

    _send_headers_immediately = False


class Relay:
    def __init__(
        self, *, lifecycle: Lifecycle, metrics: Metrics, warnings: RateLimitedLog | None = None
    ) -> None:
        """`warnings`: the app's rate-limited upstream warnings (see send.transport_error);
        a log of its own when not given."""
        self._lifecycle = lifecycle
        self._metrics = metrics
        self._warnings = warnings if warnings is not None else RateLimitedLog(_upstream_log)

    def respond(
        self, request: web.Request, call: Call, answer: Answer
    ) -> Awaitable[web.StreamResponse]:
        """Write `answer` to the client; returns the relay's coroutine to await."""
        if isinstance(answer, LocalReply):
            return self._local(request, call, answer)
        if answer.status < 300 and answer.content_type == "text/event-stream":
            if call.translation is not None:
                return self._translated_stream(request, call, answer, call.translation)
            return self._stream(request, call, answer)
        return self._whole(request, call, answer)

    async def _whole(
        self, request: web.Request, call: Call, upstream: UpstreamResponse
    ) -> web.Response:
        status = upstream.status
        whole = True
        try:
            if 200 <= status < 300:
                data = await upstream.read()
            else:  # an error answer, whatever its content type: bounded, key masked
                data, whole = await read_error_body(upstream.content, self._key(call))
        except TRANSPORT_ERRORS as e:
            upstream.close()
            raise transport_error(e, upstream.url, started=True, warnings=self._warnings) from None
        except BaseException:
            upstream.close()  # an unfinished upstream body: drop the connection
            raise
        stop_wall = time.time()
        call.upstream_s = perf_counter() - call.sent
        if whole:
            upstream.release()  # read to the end: the connection goes back to the pool
        else:
            upstream.close()  # the rest of the error body is not read: drop the connection
        record = call.record
        record.status = status
        if "json" in upstream.content_type:
            usage = usage_from_body(data)
            if usage is not None:
                record.input_tokens, record.output_tokens, record.cached_tokens = usage
        translation = call.translation
        if translation is not None:
            if status < 300:
                data = translation.answer(data, call.body.model or "")
            else:
                data = translation.error(status, data)
        response = web.Response(body=data, status=status)
        copy_response_headers(upstream.headers, response.headers)
        if translation is not None:
            response.content_type = "application/json"
        self._stamp(response, call, stop_wall)
        return response

    async def _stream(
        self, request: web.Request, call: Call, upstream: UpstreamResponse
    ) -> web.StreamResponse:
        # One coroutine for the whole stream, loop inline: every await here resumes
        # through each frame above it, once per chunk.
        response = self._stream_head(call, upstream)
        tracker = SSETracker(drop_usage_chunk=call.drop_usage, text=text_fields(call.path))
        content = upstream.content
        last = b""  # what goes out with the end of the response, in its write
        failure: ProxyError | None = None
        done = False
        try:
            try:
                await response.prepare(request)
                if not content.total_bytes:
                    await response.write(b"")  # no body yet: the client gets the headers now
                while chunk := await content.readany():
                    out = tracker.feed(chunk)
                    if content.at_eof():
                        last = out
                        break
                    await response.write(out)  # even b"": headers must not wait for a line end
                last += tracker.finish()
            except TRANSPORT_ERRORS as e:
                failure = transport_error(e, upstream.url, started=True, warnings=self._warnings)
            except ConnectionError:
                raise ClientGoneError("The client disconnected mid-stream.") from None
            finally:  # also when cancelled: a client that left is billed for what it got
                _settle(call, tracker.usage, tracker.text_chars)
            if failure is not None:
                last = self._broken(call, failure)
            try:
                await response.write_eof(last)
            except ConnectionError:
                raise ClientGoneError("The client disconnected mid-stream.") from None
            done = True
            return response
        finally:
            if done:
                upstream.release()
            else:
                upstream.close()  # an unfinished upstream body: drop the connection

    async def _translated_stream(
        self,
        request: web.Request,
        call: Call,
        upstream: UpstreamResponse,
        translation: Translation,
    ) -> web.StreamResponse:
        """A 2xx stream in the other format: each chunk translated and written as it
        arrives (the translator keeps constant state, never the answer)."""
        response = self._stream_head(call, upstream)
        translator = translation.stream(call.body.doc or {}, call.body.model or "")
        text = TextCounter(text_fields(call.path))  # what the client got, for a cut stream
        content = upstream.content
        failure: ProxyError | None = None
        done = False
        try:
            try:
                await response.prepare(request)
                await response.write(b"")  # the client gets the headers now
                while chunk := await content.readany():
                    out = translator.feed(chunk)
                    if out:
                        text.feed(out)
                        await response.write(out)
                last = translator.finish()
                if not (translator.complete or translator.failed):
                    failure = UpstreamStreamError("The upstream stream ended before its answer.")
            except TRANSPORT_ERRORS as e:
                failure = transport_error(e, upstream.url, started=True, warnings=self._warnings)
                last = b""
            except ConnectionError:
                raise ClientGoneError("The client disconnected mid-stream.") from None
            finally:  # also when cancelled: a client that left is billed for what it got
                # A finished answer stated its usage; a cut one is completed from the
                # text relayed (SPEC 8.1).
                _settle(call, translator.usage, 0 if translator.complete else text.chars)
            if failure is not None:
                last += self._broken(call, failure, translator)
            try:
                await response.write_eof(last)
            except ConnectionError:
                raise ClientGoneError("The client disconnected mid-stream.") from None
            done = True
            return response
        finally:
            if done:
                upstream.release()
            else:
                upstream.close()

    def _stream_head(self, call: Call, upstream: UpstreamResponse) -> _CoalescingStreamResponse:
        stop_wall = time.time()  # streaming: "stop" is when the upstream's headers arrived
        call.record.status = upstream.status
        response = _CoalescingStreamResponse(status=upstream.status)
        copy_response_headers(upstream.headers, response.headers)
        self._stamp(response, call, stop_wall)
        return response

    def _broken(
        self, call: Call, failure: ProxyError, translator: StreamTranslator | None = None
    ) -> bytes:
        """The last event of a stream the upstream broke, in the client's format; the
        record says 502 `upstream_stream_error` (SPEC 12)."""
        record = call.record
        broken = UpstreamStreamError(failure.message)
        record.status, record.error = broken.status, broken.code
        self._metrics.upstream_error(failure.kind or "stream")
        if translator is not None:
            return translator.error_event(broken)
        return client_sse_error(call.path)(broken)

    async def _local(
        self, request: web.Request, call: Call, reply: LocalReply
    ) -> web.StreamResponse:
        stop_wall = time.time()
        call.upstream_s = perf_counter() - call.sent
        call.record.status = reply.status
        if reply.usage.is_known:
            _take_usage(call, reply.usage)
        response: web.StreamResponse
        if reply.events:
            response = _CoalescingStreamResponse(status=reply.status)
        else:
            response = web.Response(body=reply.body, status=reply.status)
        response.headers["Content-Type"] = reply.content_type
        self._stamp(response, call, stop_wall)
        if not reply.events:
            return response
        last = b""
        if reply.cut:
            last = self._broken(call, UpstreamStreamError("The mock stream was cut (a fault)."))
        try:
            await response.prepare(request)
            await response.write_eof(b"".join(reply.events) + last)
        except ConnectionError:
            raise ClientGoneError("The client disconnected mid-stream.") from None
        return response

    def _stamp(self, response: web.StreamResponse, call: Call, stop_wall: float) -> None:
        """Request id and timing headers; `Connection: close` while the worker drains."""
        if self._lifecycle.draining:
            response.force_close()
        headers = response.headers
        start_wall = call.sent_wall
        upstream_ms = (stop_wall - start_wall) * 1000
        proxy_ms = (perf_counter() - call.started) * 1000 - upstream_ms
        # These names never come from upstream (see upstream.headers), so `add` is
        # safe; %-formatting is measurably cheaper than f-strings for floats here.
        add = headers.add
        record = call.record
        add("x-request-id", record.request_id)
        attempts = record.attempts
        add("x-proxy-attempts", _COUNTS[attempts] if attempts < 16 else str(attempts))
        if record.route is not None:
            add("x-proxy-route", record.route)
        add("x-upstream-request-start", "%.6f" % start_wall)  # noqa: UP031
        add("x-upstream-request-stop", "%.6f" % stop_wall)  # noqa: UP031
        add(
            "Server-Timing",
            "proxy;dur=%.3f, upstream;dur=%.3f"  # noqa: UP031
            % (proxy_ms if proxy_ms > 0 else 0.0, upstream_ms),
        )

    @staticmethod
    def _key(call: Call) -> str | None:
        """The upstream key this request sent (as upstream.headers chose it), to mask
        where an error body echoes it."""
        assert call.route is not None
        return call.route.api_key or call.headers.get("X-Provider-API-Key")


def _settle(call: Call, usage: Usage, relayed_chars: int) -> None:
    """A finished or abandoned stream: its upstream time and usage, completed from
    the text relayed when the upstream stated none (SPEC 8.1)."""
    call.upstream_s = perf_counter() - call.sent
    if settle_stream(usage, relayed_chars, len(call.body.raw)):
        call.record.usage_estimated = True
    _take_usage(call, usage)


def _take_usage(call: Call, usage: Usage) -> None:
    record = call.record
    record.input_tokens = usage.input_tokens
    record.output_tokens = usage.output_tokens
    record.cached_tokens = usage.cached_tokens
