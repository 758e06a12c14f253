"""The connection edge: what the HTTP parser refuses, and the request deadline."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import orjson
import pytest
from aiohttp import web

from tests.conftest import bearer, openai_route, tenant_doc
from tests.helpers import mint_jwt

CHAT = "/v1/chat/completions"
BODY = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
# A JWT-shaped bearer token: it must never come back, in an answer or a log line.
CANARY = mint_jwt("canary-user", "canary-secret-0123456789abcdef0123")


class Lines(logging.Handler):
    """Every log line the process writes, formatted the way production prints it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        from proxy.telemetry.logs import JSONFormatter

        self.setFormatter(JSONFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    root = logging.getLogger()
    handler, level = Lines(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _port(client) -> int:
    return int(client.server.port)


async def exchange(port: int, *chunks: bytes, within: float = 5.0) -> bytes:
    """Send raw bytes on a new connection; all the server says until it closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for chunk in chunks:
            writer.write(chunk)
        await writer.drain()
        async with asyncio.timeout(within):
            return await reader.read()
    finally:
        writer.close()


def parse(answer: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), headers, orjson.loads(body)


def assert_openai_error(document: dict, type_: str, code: str) -> None:
    assert set(document) == {"error"}
    assert set(document["error"]) == {"message", "type", "code", "param"}
    assert (document["error"]["type"], document["error"]["code"]) == (type_, code)


def request(head: str, body: bytes = b"", target: str = CHAT, *, close: bool = True) -> bytes:
    """A raw POST; `close`: the client asks to close the connection after the answer."""
    connection = "Connection: close\r\n" if close else ""
    return f"POST {target} HTTP/1.1\r\nHost: gw\r\n{connection}{head}\r\n".encode() + body


@pytest.fixture
async def proxy(make_proxy, upstream):
    return await make_proxy({"models": [openai_route(upstream.url)]})


# -- parser refusals ---------------------------------------------------------------


async def test_a_nul_in_the_authorization_header_keeps_the_token_out_of_answer_and_logs(
    proxy, log_lines
):
    raw = (
        f"POST {CHAT} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {CANARY}\x00\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    answer = await exchange(_port(proxy), raw)
    status, headers, document = parse(answer)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert_openai_error(document, "invalid_request_error", "invalid_request")
    assert CANARY.encode() not in answer
    assert CANARY[:20] not in "\n".join(log_lines)
    assert not any('"level":"error"' in line for line in log_lines)


HOSTILE = {
    "bad method": b"G@T /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n",
    "header too long": b"GET /v1/models HTTP/1.1\r\nHost: gw\r\nX-Big: "
    + b"a" * 9000
    + b"\r\n\r\n",
    "duplicate content-length": request("Content-Length: 2\r\nContent-Length: 3\r\n", b"{}"),
    "too many headers": b"GET /v1/models HTTP/1.1\r\nHost: gw\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    + b"\r\n",
    "header without colon": b"GET /v1/models HTTP/1.1\r\nHost: gw\r\nNoColon\r\n\r\n",
    "bad chunk size": request("Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"),
    "not http": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
}


@pytest.mark.parametrize("raw", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_what_the_parser_refuses_is_a_json_400_that_repeats_nothing(proxy, log_lines, raw):
    answer = await exchange(_port(proxy), raw)
    status, headers, document = parse(answer)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert_openai_error(document, "invalid_request_error", "invalid_request")
    assert b"aaaa" not in answer and b"X-H1" not in answer and b"NoColon" not in answer
    assert not any('"level":"error"' in line for line in log_lines)


async def test_a_broken_chunk_after_the_headers_were_parsed_is_a_json_400(proxy, upstream):
    answer = await exchange(
        _port(proxy),
        request("Transfer-Encoding: chunked\r\n", b'4\r\n{"a"\r\n'),
        b"zz-secret\r\n",
    )
    status, _, document = parse(answer)
    assert status == 400
    assert_openai_error(document, "invalid_request_error", "invalid_request")
    assert b"zz-secret" not in answer
    assert upstream.seen == []


async def test_an_unknown_expectation_is_a_json_417_that_does_not_echo_it(proxy, upstream):
    raw = request(f"Expect: 101-secret\r\nContent-Length: {len(BODY)}\r\n", BODY)
    answer = await exchange(_port(proxy), raw)
    status, _, document = parse(answer)
    assert status == 417
    assert_openai_error(document, "invalid_request_error", "invalid_request")
    assert b"101-secret" not in answer
    assert upstream.seen == []


async def test_expect_100_continue_still_works(proxy, upstream):
    raw = request(f"Expect: 100-continue\r\nContent-Length: {len(BODY)}\r\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(proxy))
    try:
        writer.write(raw)
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(BODY)
        async with asyncio.timeout(5):
            answer = await reader.read()
    finally:
        writer.close()
    assert parse(answer)[0] == 200
    assert upstream.seen[0].body == BODY


@pytest.mark.parametrize("target", ["/v1/chat%0d%0acompletions", "/%0d%0a", "/v1/x%00", "/v1/\x01"])
async def test_control_characters_in_the_path_are_invalid_path(proxy, upstream, target):
    answer = await exchange(_port(proxy), request("Content-Length: 2\r\n", b"{}", target=target))
    status, _, document = parse(answer)
    assert status == 400
    assert_openai_error(document, "invalid_request_error", "invalid_path")
    assert upstream.seen == []


async def test_control_characters_in_a_multi_tenant_path_are_invalid_path(
    make_mt_proxy, config_api, upstream
):
    config_api.docs["u1"] = tenant_doc(upstream.url)
    client = await make_mt_proxy()
    auth = bearer("u1")["Authorization"]
    raw = request(f"Authorization: {auth}\r\nContent-Length: 2\r\n", b"{}", "/users/u1/v1/%0d%0a")
    status, _, document = parse(await exchange(_port(client), raw))
    assert status == 400
    assert_openai_error(document, "invalid_request_error", "invalid_path")


# -- the request deadline ------------------------------------------------------------


@pytest.fixture
async def quick(make_proxy, upstream):
    """A gateway whose requests must arrive within half a second."""
    return await make_proxy({"models": [openai_route(upstream.url)]}, PROXY_REQUEST_TIMEOUT="0.5")


async def _slow(port: int, head: bytes, trickle: bytes) -> tuple[bytes, float]:
    """Send `head`, then a byte of `trickle` every 0.1 s until the server speaks;
    (what it said, seconds until it closed the connection)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = b""
    try:
        writer.write(head)
        first = asyncio.ensure_future(reader.read(65536))
        for byte in trickle:
            done, _ = await asyncio.wait([first], timeout=0.1)
            if done:
                break
            writer.write(bytes([byte]))
        async with asyncio.timeout(5):
            answer = await first
            answer += await reader.read()
    except ConnectionResetError:  # closed while a trickled byte was on its way
        pass
    finally:
        writer.close()
    return answer, time.monotonic() - started


async def test_a_body_that_does_not_arrive_in_time_is_a_408_and_the_connection_closes(
    quick, upstream
):
    head = request(f"Content-Length: {len(BODY)}\r\n", BODY[:10])
    answer, took = await _slow(_port(quick), head, BODY[10:] * 10)
    status, headers, document = parse(answer)
    assert status == 408
    assert headers["connection"].lower() == "close"
    assert_openai_error(document, "invalid_request_error", "request_timeout")
    assert 0.4 < took < 1.5
    assert upstream.seen == []


async def test_headers_that_do_not_arrive_in_time_are_a_408_and_the_connection_closes(quick):
    answer, took = await _slow(_port(quick), b"POST /v1/chat/completions HTTP/1.1\r\n", b"X" * 100)
    status, _, document = parse(answer)
    assert status == 408
    assert_openai_error(document, "invalid_request_error", "request_timeout")
    assert 0.4 < took < 1.5


async def test_the_deadline_covers_arrival_not_the_answer_nor_keep_alive(quick, upstream):
    gate = asyncio.Event()

    async def slow_answer(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.8)  # longer than the deadline: the upstream is slow, not the client
        gate.set()
        return web.json_response({"object": "chat.completion"})

    upstream.handler = slow_answer
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(quick))
    try:
        for _ in range(2):  # the second request comes after an idle keep-alive gap
            writer.write(request(f"Content-Length: {len(BODY)}\r\n", BODY, close=False))
            async with asyncio.timeout(5):
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200"), head
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
            await asyncio.sleep(0.7)  # idle longer than the deadline
    finally:
        writer.close()
    assert gate.is_set()
    assert len(upstream.seen) == 2


async def test_two_hundred_slow_clients_are_cut_off_and_do_not_slow_anyone_else(quick, upstream):
    port = _port(quick)
    head = request(f"Content-Length: {len(BODY)}\r\n", BODY[:5])
    slow = [asyncio.ensure_future(_slow(port, head, BODY[5:] * 10)) for _ in range(200)]
    await asyncio.sleep(0.1)  # all of them are connected and trickling
    fast_times = []
    for _ in range(10):
        started = time.monotonic()
        answer = await exchange(
            port, request(f"Content-Length: {len(BODY)}\r\nConnection: close\r\n", BODY)
        )
        fast_times.append(time.monotonic() - started)
        assert parse(answer)[0] == 200
    results = await asyncio.gather(*slow)
    assert max(fast_times) < 0.3
    for answer, took in results:
        assert took < 2.0  # closed by the deadline, not by the client giving up
        if answer:  # a connection may be closed right after its 408
            status, _, document = parse(answer)
            assert status == 408
            assert_openai_error(document, "invalid_request_error", "request_timeout")
    assert sum(1 for answer, _ in results if answer) >= 190
    assert len(upstream.seen) == 10
