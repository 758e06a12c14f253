"""HTTP/1.1 to providers on aiohttp's own connection pool and C response parser.

`ClientSession.request` is general-purpose: per request it builds a `ClientRequest`
(URL and header checks, a header multidict, a body payload object, cookie filtering,
tracing, a writer task) and a `ClientResponse`. A provider request needs none of it,
so `Wire` does the little that is left:

- a connection from the session's connector: the pool (keep-alive reuse, its limit
  and idle timeout, a connection closed by the upstream never handed out), the DNS
  cache, TLS (the connector's, certificates verified), and `GuardedConnector`'s SSRF
  check on every connect;
- the request in one write: its head rendered as text (`render_head`; the values come
  from aiohttp's request parser or the checked config, so they hold no CR or LF), then
  the body, with its `Content-Length`;
- the answer read by the connection's own `ResponseHandler`: aiohttp's C parser
  (chunked bodies, 1xx answers skipped, decompression, `Connection: close`, no body for
  HEAD) and its read timeout between chunks.

Redirects are never followed: a 3xx is an answer like any other. A request that fails
on its connection before any answer arrived is sent once more on a fresh connection
when its method is idempotent, as ClientSession does (RFC 9112 9.3.1.1).
`proxy.upstream.session` still builds the `ClientSession` that owns the connector and
carries everything but these provider tries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from functools import lru_cache

import aiohttp
from aiohttp.client_exceptions import ClientOSError, ServerDisconnectedError
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_READ_BUFSIZE = 2**16
_DEFAULT_TYPE = "application/octet-stream"


class UpstreamResponse:
    """An upstream's answer: its status and headers read, its body in `content`.

    `release()` hands a connection whose answer was read to the end back to the pool;
    `close()` drops it. Either may be called more than once."""

    __slots__ = ("status", "headers", "content", "url", "_conn")

    def __init__(
        self,
        status: int,
        headers: CIMultiDictProxy[str],
        content: StreamReader,
        url: URL,
        conn: Connection,
    ) -> None:
        self.status = status
        self.headers = headers
        self.content = content
        self.url = url
        self._conn: Connection | None = conn

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters (aiohttp's default when none)."""
        return _media_type(self.headers.get("Content-Type"))

    async def read(self) -> bytes:
        """The whole body; the connection goes back to the pool."""
        data = await self.content.read()
        self.release()
        return data

    def release(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            if self.content.is_eof():
                conn.release()
            else:
                conn.close()

    def close(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            conn.close()


@lru_cache(maxsize=256)
def _media_type(value: str | None) -> str:
    if not value:
        return _DEFAULT_TYPE
    return value.partition(";")[0].strip().lower() or _DEFAULT_TYPE


class Wire:
    """Sends requests on `connector`'s pool; one per worker."""

    def __init__(self, connector: aiohttp.BaseConnector) -> None:
        self._connector = connector
        self._origins: dict[tuple[str, str | None, int | None], ClientRequest] = {}

    async def request(
        self,
        method: str,
        url: URL,
        head: str,
        body: bytes,
        timeouts: aiohttp.ClientTimeout,
    ) -> UpstreamResponse:
        """Send `head` (request line and headers, rendered by `render_head`) and `body`
        to `url`'s origin; the answer once its headers arrived."""
        origin = self._origin(url)
        data = head.encode("utf-8", "surrogateescape") + body if len(body) < 65536 else None
        retry = method in IDEMPOTENT
        while True:
            try:
                conn = await self._connector.connect(origin, [], timeouts)
            except TimeoutError as e:
                raise aiohttp.ConnectionTimeoutError(f"Connection timeout to {url.host}") from e
            protocol = conn.protocol
            try:
                assert protocol is not None
                _expect_answer(protocol, method, timeouts.sock_read)
                transport = protocol.transport
                if transport is None:
                    raise ServerDisconnectedError()
                if data is not None:
                    transport.write(data)
                else:
                    transport.writelines((head.encode("utf-8", "surrogateescape"), body))
                protocol.start_timeout()  # sock_read: the wait for the answer's headers
                status, headers, payload = await _answer(protocol)
            except (ServerDisconnectedError, ClientOSError):
                conn.close()
                if not retry:
                    raise
                retry = False
                continue
            except BaseException:
                conn.close()
                raise
            return UpstreamResponse(status, headers, payload, url, conn)

    def _origin(self, url: URL) -> ClientRequest:
        """The request the connector makes or picks connections by: one per origin."""
        key = (url.scheme, url.raw_host, url.port)
        found = self._origins.get(key)
        if found is None:
            found = ClientRequest("GET", url.origin(), loop=asyncio.get_running_loop(), ssl=True)
            if len(self._origins) < 4096:
                self._origins[key] = found
        return found


def _expect_answer(protocol: ResponseHandler, method: str, read_timeout: float | None) -> None:
    protocol.set_response_params(
        skip_payload=method == "HEAD",
        read_until_eof=True,  # no length and not chunked: the body ends with the connection
        read_timeout=read_timeout,
        read_bufsize=_READ_BUFSIZE,
        auto_decompress=True,
    )


async def _answer(
    protocol: ResponseHandler,
) -> tuple[int, CIMultiDictProxy[str], StreamReader]:
    """The first final answer's status, headers and body; 1xx answers are skipped."""
    while True:
        try:
            message, payload = await protocol.read()
        except HttpProcessingError as e:
            raise aiohttp.ClientResponseError(
                _NO_INFO, (), status=e.code, message=e.message
            ) from None
        code = message.code
        if code < 100 or code > 199 or code == 101:
            return code, message.headers, payload


_NO_INFO = aiohttp.RequestInfo(URL(), "", CIMultiDictProxy(CIMultiDict()))


def render_head(method: str, url: URL, headers: Mapping[str, str], length: int) -> str:
    """The request line and headers for `url`, ending with the blank line."""
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1\r\nHost: {url.host_port_subcomponent}\r\n"]
    append: Callable[[str], None] = lines.append
    for name, value in headers.items():
        append(f"{name}: {value}\r\n")
    if length or method not in IDEMPOTENT:
        append(f"Content-Length: {length}\r\n")
    append("\r\n")
    return "".join(lines)
