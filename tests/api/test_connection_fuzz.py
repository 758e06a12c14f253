"""Fuzzing the connection edge: hostile raw requests against a live gateway.

Each example sends a few generated requests (bad methods and versions, header lines
with NUL/CR/LF/non-UTF-8, oversized and duplicate headers, odd `Expect`, absolute-,
authority- and asterisk-form targets, encoded traversal and control characters in
paths, broken chunked framing, truncated bodies, random bytes), each on its own
connection, to a gateway (static or multi-tenant) whose upstream is a loopback
server. Whatever comes back: no 5xx, every error is OpenAI-shaped JSON, no canary
(the client's bearer token, the route's api_key) in any answer or log line, and a
second loopback listener that requests try to reach never sees a connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_connection import Lines
from tests.conftest import JWT_SECRET, openai_route
from tests.helpers import mint_jwt

# Oversized header lines make failing examples long to print; that is no failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

CLIENT_CANARY = mint_jwt("u1", JWT_SECRET, canary="client-canary-7f3a9c")
ROUTE_CANARY = "sk-route-canary-5be1d07c"
CANARIES = (CLIENT_CANARY.encode(), ROUTE_CANARY.encode(), b"client-canary-7f3a9c")
EXAMPLES = 250  # each sends 1-8 requests: ~1,100 requests per mode
DEADLINE = "0.15"  # PROXY_REQUEST_TIMEOUT: truncated requests are cut off quickly


class Decoy:
    """A loopback listener no request may ever make the gateway connect to."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@pytest.fixture
async def decoy() -> AsyncIterator[Decoy]:
    d = Decoy()
    server = await asyncio.start_server(d._accept, "127.0.0.1", 0)
    d.port = server.sockets[0].getsockname()[1]
    yield d
    server.close()
    await server.wait_closed()


@pytest.fixture
def captured() -> Iterator[list[str]]:
    root = logging.getLogger()
    handler, level = Lines(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _mostly(
    common: st.SearchStrategy[bytes], rare: st.SearchStrategy[bytes]
) -> st.SearchStrategy[bytes]:
    """`common` four times in five, else `rare` (random bytes would otherwise
    dominate, and few requests would get past the request line)."""
    return st.integers(0, 4).flatmap(lambda i: rare if i == 0 else common)


def _framed(head: bytes, headers: list[bytes], body: bytes, framing: str) -> bytes:
    if framing == "length":
        headers = [*headers, b"Content-Length: %d" % len(body)]
    elif framing == "chunked":
        headers = [*headers, b"Transfer-Encoding: chunked"]
        body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    lines = b"".join(h + b"\r\n" for h in headers)
    return head + b"\r\n" + lines + b"Connection: close\r\n\r\n" + body


ELSEWHERE = "127.0.0.1:DECOY"  # the decoy's address, its port filled in when sent


def _parts(prefix: str) -> st.SearchStrategy[bytes]:
    """One raw request, built from hostile and ordinary parts."""
    elsewhere = ELSEWHERE
    chat = f"{prefix}/v1/chat/completions"
    method = _mostly(
        st.sampled_from([b"POST"] * 6 + [b"GET"] * 3 + [b"PUT", b"DELETE", b"HEAD", b"OPTIONS"]),
        st.sampled_from([b"CONNECT", b"TRACE", b"PRI", b"G@T", b"POST\x00", b"", b"get"])
        | st.binary(min_size=1, max_size=8),
    )
    target = _mostly(
        st.sampled_from([chat] * 4 + [f"{prefix}/v1/models"]).map(str.encode),
        st.sampled_from(
            [chat, f"{prefix}/v1/models", f"{prefix}/v1/embeddings?x=1", "/healthz", "/nope"]
            + [f"http://{elsewhere}/v1/chat/completions", f"evil://{elsewhere}/v1/models"]
            + [f"http://{elsewhere}{chat}", elsewhere, "*", f"//{elsewhere}/v1/models"]
            + [f"{prefix}/v1/..%2f..%2fadmin", f"{prefix}/v1/%2e%2e/models", f"{prefix}/v1/a%5cb"]
            + [f"{prefix}/v1/chat%0d%0aX: y", f"{prefix}/v1/%00", f"{prefix}/v1/\x01", "/v1/\r"]
            + [f"/users/..%2f{elsewhere}/v1/models", "/users/%0d%0a/v1/models", f"{chat}#frag"]
            + [f"{prefix}/v1/%ff%fe", f"{prefix}/v1/" + "a" * 9000, ""]
        ).map(str.encode)
        | st.binary(max_size=40),
    )
    version = st.sampled_from([b"HTTP/1.1"] * 6 + [b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1x", b""])
    auth = b"Authorization: Bearer " + CLIENT_CANARY.encode()
    header = st.sampled_from(
        [auth, auth + b"\x00", auth + b"\xff\xfe", auth + b"\r", b"Authorization: Bearer \xff"]
        + [b"X-Provider-API-Key: " + CLIENT_CANARY.encode(), b"Host: " + elsewhere.encode()]
        + [b"X-Forwarded-Host: " + elsewhere.encode(), b"Content-Length: 5"]
        + [b"Content-Length: -1", b"Content-Length: 99999999999999999999", b"Content-Length: x"]
        + [b"Content-Length: 2", b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip"]
        + [b"Transfer-Encoding: chunked, chunked", b"Expect: 100-continue", b"Expect: 101-x"]
        + [b"Content-Type: application/json", b"NoColon", b": empty-name", b"X-A\x00: b"]
        + [b"X-Long: " + b"a" * 9000, b" folded", b"X-Utf8: \xc3\x28", b"Upgrade: websocket"]
        + [b"Content-Encoding: gzip", b"Connection: keep-alive, Upgrade"]
    ) | st.binary(max_size=30)
    auth_only = st.just(auth if prefix else b"Content-Type: application/json")
    body = st.sampled_from(
        [b"", b"{}", b'{"model": "gpt-4o-mini", "messages": []}']
        + [f'{{"model": "gpt-4o-mini", "api_base": "http://{elsewhere}"}}'.encode()]
        + [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}\r\n0\r\n\r\n", b"5\r\n{}", b'{"model": "gp']
    ) | st.binary(max_size=64)
    body = _mostly(st.just(b'{"model": "gpt-4o-mini", "messages": []}'), body)
    many = st.just([b"X-H%d: v" % i for i in range(150)])
    listed = st.lists(_mostly(auth_only, header), max_size=6)
    headers = st.integers(0, 9).flatmap(lambda i: many if i == 0 else listed)
    request = st.builds(
        lambda m, t, v, hs, b, f: _framed(m + b" " + t + b" " + v, hs, b, f),
        method,
        target,
        version,
        headers,
        body,
        st.sampled_from(["length", "length", "chunked", "as-is"]),
    )
    return _mostly(request, st.binary(min_size=1, max_size=200))


def _responses(answer: bytes) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """The HTTP/1.x responses in what the gateway sent (it closes after each of these)."""
    found = []
    while answer:
        head, sep, rest = answer.partition(b"\r\n\r\n")
        assert sep, answer[:200]
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if status == 100:
            answer = rest
            continue
        if b"content-length" in headers:
            size = int(headers[b"content-length"])
            body, answer = rest[:size], rest[size:]
        else:  # chunked or until close: the last response
            body, answer = rest, b""
        found.append((status, headers, body))
    return found


async def _send(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        async with asyncio.timeout(3):
            return await reader.read()
    except ConnectionResetError:
        return b""  # closed while bytes the gateway would not read were on their way
    finally:
        writer.close()


async def _fuzz(port: int, requests: list[bytes], decoy: Decoy, lines: list[str]) -> None:
    there = ELSEWHERE.replace("DECOY", str(decoy.port)).encode()
    requests = [raw.replace(ELSEWHERE.encode(), there) for raw in requests]
    answers = await asyncio.gather(*(_send(port, raw) for raw in requests))
    for raw, answer in zip(requests, answers, strict=True):
        for canary in CANARIES:
            assert canary not in answer, raw
        for status, headers, body in _responses(answer):
            assert status < 500, (raw, status, body)
            if status >= 400 and not raw.startswith(b"HEAD "):  # HEAD answers have no body
                assert headers.get(b"content-type", b"").startswith(b"application/json"), raw
                error = orjson.loads(body)["error"]
                assert set(error) == {"message", "type", "code", "param"}, raw
                assert isinstance(error["type"], str) and isinstance(error["code"], str), raw
    assert decoy.connections == 0
    logged = "\n".join(lines).encode()
    for canary in CANARIES:
        assert canary not in logged


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
async def static_gateway(make_proxy, upstream):
    doc = {"models": [openai_route(upstream.url, api_key=ROUTE_CANARY)]}
    return await make_proxy(doc, PROXY_REQUEST_TIMEOUT=DEADLINE)


@pytest.fixture
async def mt_gateway(make_mt_proxy, config_api, upstream):
    config_api.docs["u1"] = {"models": [openai_route(upstream.url, api_key=ROUTE_CANARY)]}
    return await make_mt_proxy(PROXY_REQUEST_TIMEOUT=DEADLINE)


@FUZZ
@given(requests=st.lists(_parts(""), min_size=1, max_size=8))
async def test_static_mode_survives_hostile_requests(static_gateway, decoy, captured, requests):
    await _fuzz(static_gateway.server.port, requests, decoy, captured)


@FUZZ
@given(requests=st.lists(_parts("/users/u1"), min_size=1, max_size=8))
async def test_multi_tenant_mode_survives_hostile_requests(mt_gateway, decoy, captured, requests):
    await _fuzz(mt_gateway.server.port, requests, decoy, captured)
