"""One send: a single try of a request on the worker's guarded ClientSession.

The route's URL (parsed once, cached), the provider's headers, the body the route
needs and a per-route timeout; nothing is retried here (the exchange decides
that). `send` makes and sends a route's request in one go (the hot path);
`prepare` makes it once per route (translated when the route's provider speaks
another format) and `attempt` sends it, once per try, the same bytes every time.
Transport failures become typed errors whose messages name no host or address;
`kind` says which failure it was, for metrics.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from time import perf_counter

import aiohttp
import orjson
from yarl import URL

from proxy.errors import (
    InvalidRequestError,
    ProxyError,
    UpstreamConnectError,
    UpstreamDisconnectError,
    UpstreamTimeoutError,
)
from proxy.providers import PROVIDERS
from proxy.providers.translation import Translation
from proxy.route import Route
from proxy.throttled_log import RateLimitedLog
from proxy.upstream.body import upstream_body
from proxy.upstream.call import Call
from proxy.upstream.guard import forbidden_destination
from proxy.upstream.headers import upstream_headers
from proxy.upstream.wire import UpstreamResponse, Wire, render_head

log = logging.getLogger("proxy.upstream")


class Send:
    """Sends one try; one per worker, sharing the worker's session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        connect_timeout: float,
        warnings: RateLimitedLog | None = None,
    ) -> None:
        """`warnings`: the app's rate-limited upstream warnings (see `transport_error`);
        a log of its own when not given."""
        assert session.connector is not None
        self._wire = Wire(session.connector)  # the session's pool, not its request()
        self._warnings = warnings if warnings is not None else RateLimitedLog(log)
        self._timeouts = Timeouts(connect_timeout)
        self._urls = UpstreamURLs()

    async def send(self, call: Call, route: Route) -> UpstreamResponse:
        """The upstream's response, its headers read and its body not yet."""
        provider = PROVIDERS[route.provider]
        body = call.body
        add_usage = body.stream and call.path in provider.stream_usage_paths and not body.asks_usage
        call.drop_usage = add_usage
        payload = upstream_body(body, route, add_usage=add_usage)
        headers = upstream_headers(call.headers, route, provider)
        url = self._urls.get(route.api_base, call.path, call.query)
        method = call.record.method
        head = render_head(method, url, headers, len(payload))
        call.sent_wall = time.time()
        call.sent = perf_counter()
        try:
            return await self._wire.request(
                method, url, head, payload, self._timeouts.for_route(route.timeout_s)
            )
        except TRANSPORT_ERRORS as e:
            raise transport_error(e, url, started=False, warnings=self._warnings) from None

    def prepare(self, call: Call, route: Route, translation: Translation | None) -> Outgoing:
        """The request for `route`, made once before its tries."""
        provider = PROVIDERS[route.provider]
        body = call.body
        path = call.path
        if translation is None:
            add_usage = body.stream and path in provider.stream_usage_paths and not body.asks_usage
            call.drop_usage = add_usage
            payload = upstream_body(body, route, add_usage=add_usage)
        else:
            payload = translated_body(body.doc, route, translation)
            path = translation.upstream_path
            call.drop_usage = False  # the stream translator answers for the usage chunk
        return Outgoing(
            self._urls.get(route.api_base, path, call.query),
            upstream_headers(call.headers, route, provider),
            payload,
            self._timeouts.for_route(route.timeout_s),
        )

    async def attempt(self, call: Call, route: Route, out: Outgoing) -> UpstreamResponse:
        """One try of a prepared request."""
        url = out.url
        method = call.record.method
        payload = out.payload
        head = render_head(method, url, out.headers, len(payload))
        call.sent_wall = time.time()
        call.sent = perf_counter()
        try:
            assert out.timeout is not None
            return await self._wire.request(method, url, head, payload, out.timeout)
        except TRANSPORT_ERRORS as e:
            raise transport_error(e, out.url, started=False, warnings=self._warnings) from None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A route's request as its tries send it: built once, sent as often as tried."""

    url: URL = URL()  # empty for a provider answered in process
    headers: dict[str, str] = field(default_factory=dict)
    payload: bytes = b""
    timeout: aiohttp.ClientTimeout | None = None


def translated_body(doc: dict[str, object] | None, route: Route, translation: Translation) -> bytes:
    """The client's request in the route's provider format (SPEC 13), its model renamed."""
    if doc is None:
        raise InvalidRequestError("A translated request must be a JSON object.")
    out = translation.request(doc, route.max_tokens_default)
    if route.upstream_model is not None:
        out["model"] = route.upstream_model
    return orjson.dumps(out)


class Timeouts:
    """One immutable ClientTimeout per distinct route timeout, built once."""

    def __init__(self, connect_cap: float) -> None:
        self._connect_cap = connect_cap
        self._cache: dict[float, aiohttp.ClientTimeout] = {}

    def for_route(self, timeout_s: float) -> aiohttp.ClientTimeout:
        found = self._cache.get(timeout_s)
        if found is None:
            # sock_read bounds the wait for headers and every gap between chunks,
            # never the whole length of a stream.
            found = aiohttp.ClientTimeout(
                total=None,
                connect=timeout_s,
                sock_connect=min(timeout_s, self._connect_cap),
                sock_read=timeout_s,
            )
            if len(self._cache) < 1024:
                self._cache[timeout_s] = found
        return found


class UpstreamURLs:
    """Parsed upstream URLs, cached: yarl parsing is the costliest step of a send."""

    def __init__(self, size: int = 8192) -> None:
        self._size = size
        self._cache: dict[str, URL] = {}

    def get(self, api_base: str, path: str, query: str) -> URL:
        key = api_base + path + "?" + query if query else api_base + path
        url = self._cache.get(key)
        if url is None:
            url = URL(key)
            if url.raw_user is not None or url.raw_password is not None:
                # `user@host` disguises where a request goes (and aiohttp would send the
                # credentials): never a legitimate provider URL.
                raise forbidden_destination()
            if len(self._cache) >= self._size:
                self._cache.clear()
            self._cache[key] = url
        return url


TRANSPORT_ERRORS = (TimeoutError, aiohttp.ClientError)


def transport_error(
    exc: BaseException, url: URL, *, started: bool, warnings: RateLimitedLog
) -> ProxyError:
    """The typed error for a transport failure; `started`: the answer had begun.

    A refused connection is logged through `warnings` (the app's, rate-limited per
    upstream host), so an outage makes a line per host every 10 s, not one per request.

    Drops `exc`'s traceback: aiohttp's connection errors can sit in reference cycles
    with their own frames, and through the traceback the cycle would keep the
    request's frames (body, usage record) alive until a cycle collection, which
    serving workers run rarely (proxy.worker.tune_gc).
    """
    exc.__traceback__ = None
    if isinstance(exc, TimeoutError):  # aiohttp's connect and read timeouts subclass it
        if started:
            return UpstreamTimeoutError("The upstream stopped sending within the route's timeout.")
        return UpstreamTimeoutError("The upstream did not answer within the route's timeout.")
    if isinstance(exc, aiohttp.ClientConnectorError):
        warnings.warning(
            f"connect:{url.host}",
            "upstream connect failed",
            host=url.host,
            error=type(exc).__name__,
        )
        return UpstreamConnectError("The upstream could not be reached.")
    if isinstance(exc, aiohttp.ClientResponseError):
        return UpstreamDisconnectError("The upstream sent a response that is not valid HTTP.")
    if started:
        return UpstreamDisconnectError(
            "The upstream closed the connection before its answer ended."
        )
    return UpstreamDisconnectError("The upstream closed the connection before answering.")
