"""The provider transport on aiohttp's pool and C parser: the HTTP/1.1 cases that
matter, each against a real loopback server (a raw one where the bytes must be exact)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
import trustme
from aiohttp import web
from yarl import URL

from proxy.errors import UpstreamForbiddenError
from proxy.upstream.guard import DestinationPolicy, GuardedConnector
from proxy.upstream.wire import UpstreamResponse, Wire, render_head
from tests.helpers import StubResolver

TIMEOUTS = aiohttp.ClientTimeout(total=None, connect=5, sock_read=5)
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


@asynccontextmanager
async def raw_server(script: Script) -> AsyncIterator[tuple[str, list[int]]]:
    """A server that runs `script(reader, writer, n)` for its n-th connection (from 0);
    yields its URL and the requests each connection read."""
    requests: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(0)
        try:
            await script(reader, writer, len(requests) - 1)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", requests
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and body (by its Content-Length); b"" at EOF."""
    head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return head + await reader.readexactly(int(line.split(b":")[1]))
    return head


async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
    """Answer every request on the connection 200 with a small body, kept alive."""
    while await read_request(reader):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
        await writer.drain()


async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
    """Answer one request 200 and close the connection, saying so."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    await writer.drain()


@asynccontextmanager
async def wire(**connector: object) -> AsyncIterator[Wire]:
    policy = connector.pop("policy", DestinationPolicy(strict=False))
    session = aiohttp.ClientSession(connector=GuardedConnector(policy, **connector))  # type: ignore[arg-type]
    try:
        assert session.connector is not None
        yield Wire(session.connector)
    finally:
        await session.close()


async def get(w: Wire, url: str, method: str = "GET", body: bytes = b"") -> UpstreamResponse:
    target = URL(url)
    return await w.request(
        method, target, render_head(method, target, {}, len(body)), body, TIMEOUTS
    )


async def test_the_request_goes_out_as_rendered_with_its_body_and_length():
    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async with raw_server(record) as (url, _), wire() as w:
        target = URL(url + "/v1/chat?x=1")
        head = render_head("POST", target, {"X-Tenant": "a"}, 2)
        answer = await w.request("POST", target, head, b"{}", TIMEOUTS)
        assert answer.status == 200 and await answer.read() == b""
    port = URL(url).port
    assert seen == [
        f"POST /v1/chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Tenant: a\r\n"
        "Content-Length: 2\r\n\r\n{}".encode()
    ]


async def test_a_chunked_answer_is_read_whole_and_a_stream_chunk_by_chunk():
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: text/event-stream; charset=utf-8\r\n\r\n5\r\nhello\r\n"
        )
        await writer.drain()
        await asyncio.sleep(0)
        writer.write(b"6\r\n world\r\n0\r\n\r\n")
        await writer.drain()

    async with raw_server(chunked) as (url, _), wire() as w:
        answer = await get(w, url + "/")
        assert answer.content_type == "text/event-stream"
        assert await answer.read() == b"hello world"


async def test_a_kept_alive_connection_is_reused_for_the_next_request():
    async with raw_server(ok) as (url, connections), wire() as w:
        for _ in range(3):
            answer = await get(w, url + "/", "POST", b"{}")
            assert await answer.read() == b"ok"
    assert connections == [0]  # one connection for all three


async def test_connection_close_is_honoured_and_the_next_request_connects_anew():
    async with raw_server(once) as (url, connections), wire() as w:
        for _ in range(2):
            answer = await get(w, url + "/", "POST", b"{}")
            assert await answer.read() == b"ok"
    assert len(connections) == 2


async def test_an_answer_without_length_or_chunks_is_read_until_the_connection_closes():
    async def until_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
    ) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of ")
        await writer.drain()
        writer.write(b"it")

    async with raw_server(until_close) as (url, _), wire() as w:
        assert await (await get(w, url + "/", "POST", b"{}")).read() == b"all of it"


async def test_a_pooled_connection_the_upstream_closed_is_never_used():
    closed = asyncio.Event()

    async def idle_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # kept alive...
        await writer.drain()
        if n == 0:
            writer.close()  # ...until its idle timeout
            await writer.wait_closed()
            closed.set()

    async with raw_server(idle_close) as (url, connections), wire() as w:
        assert await (await get(w, url + "/", "POST", b"{}")).read() == b"ok"
        await closed.wait()
        pooled = [proto for conns in w._connector._conns.values() for proto, _ in conns]
        await asyncio.gather(*(p.closed for p in pooled if p.closed))  # the FIN arrived
        assert await (await get(w, url + "/", "POST", b"{}")).read() == b"ok"
    assert len(connections) == 2


async def test_a_reused_connection_that_dies_unanswered_retries_idempotent_requests_only():
    async def die_on_second(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await read_request(reader)  # the second request on this connection: no answer

    async with raw_server(die_on_second) as (url, connections), wire() as w:
        await (await get(w, url + "/")).read()
        assert await (await get(w, url + "/")).read() == b"ok"  # GET: sent again, anew
        assert len(connections) == 2
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get(w, url + "/", "POST", b"{}")  # POST: never sent twice
    assert len(connections) == 2


async def test_head_answers_have_no_body_and_keep_the_connection():
    async def head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while request := await read_request(reader):
            if request.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async with raw_server(head) as (url, connections), wire() as w:
        answer = await get(w, url + "/", "HEAD")
        assert answer.status == 200 and await answer.read() == b""
        assert await (await get(w, url + "/")).read() == b"ok"
    assert connections == [0]


async def test_informational_answers_are_skipped_for_the_final_one():
    async def early(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone"
        )
        await writer.drain()

    async with raw_server(early) as (url, _), wire() as w:
        answer = await get(w, url + "/", "POST", b"{}")
        assert answer.status == 201 and await answer.read() == b"done"


async def test_redirects_are_answers_never_followed():
    async with raw_server(ok) as (target, followed):

        async def redirect(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
        ) -> None:
            await read_request(reader)
            writer.write(
                f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}/\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
            await writer.drain()

        async with raw_server(redirect) as (url, _), wire() as w:
            answer = await get(w, url + "/", "POST", b"{}")
            assert answer.status == 307 and answer.headers["Location"] == target + "/"
            answer.release()
    assert followed == []


async def test_tls_to_an_upstream_whose_certificate_the_ca_signed_and_no_other():
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)

    async def tls(request: web.Request) -> web.Response:
        return web.json_response({"tls": True})

    app = web.Application()
    app.router.add_post("/v1/x", tls)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = runner.addresses[0][1]
    resolver = StubResolver({"localhost": "127.0.0.1"})
    try:
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        async with wire(ssl=client_ctx, resolver=resolver) as w:
            answer = await get(w, f"https://localhost:{port}/v1/x", "POST", b"{}")
            assert answer.status == 200 and await answer.read() == b'{"tls": true}'
        async with wire(resolver=resolver) as w:  # the system's CAs: not this one
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await get(w, f"https://localhost:{port}/v1/x", "POST", b"{}")
    finally:
        await runner.cleanup()


async def test_every_connect_is_vetted_so_a_name_rebound_to_metadata_gets_nothing():
    async with raw_server(once) as (url, connections):
        port = URL(url).port
        resolver = StubResolver({"rebind.test": ["127.0.0.1", "169.254.169.254"]})
        async with wire(resolver=resolver, use_dns_cache=False) as w:
            answer = await get(w, f"http://rebind.test:{port}/", "POST", b"{}")
            assert await answer.read() == b"ok"
            with pytest.raises(UpstreamForbiddenError):
                await get(w, f"http://rebind.test:{port}/", "POST", b"{}")
    assert len(connections) == 1


def test_the_head_names_a_default_port_by_host_alone_and_sends_no_length_without_a_body():
    head = render_head("GET", URL("https://api.example.test/v1/models"), {"A": "b"}, 0)
    assert head == "GET /v1/models HTTP/1.1\r\nHost: api.example.test\r\nA: b\r\n\r\n"
    post = render_head("POST", URL("http://[::1]:8080/v1/x"), {}, 0)
    assert post == "POST /v1/x HTTP/1.1\r\nHost: [::1]:8080\r\nContent-Length: 0\r\n\r\n"
