"""Test doubles that are real: aiohttp upstreams on loopback, a recording sink."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.app import GatewayRunner
from proxy.body import inspect_body
from proxy.upstream.call import Call
from proxy.upstream.guard import DestinationPolicy
from proxy.upstream.session import build_session
from proxy.usage_record import UsageRecord

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class GatewayTestServer(TestServer):
    """The gateway app served as production serves it (`proxy.app.GatewayRunner`):
    its connections answer parser refusals as JSON and keep PROXY_REQUEST_TIMEOUT.
    aiohttp's start_server passes `handler_cancellation=True`; no access log, as in
    production (proxy.app.build_runner)."""

    async def _make_runner(self, **kwargs: object) -> GatewayRunner:
        return GatewayRunner(self.app, access_log=None, **kwargs)


class RecordingSink:
    """A usage sink that keeps what it is given, and can be awaited on."""

    def __init__(self) -> None:
        self.records: list[UsageRecord] = []
        self._arrived = asyncio.Event()

    def emit(self, record: UsageRecord) -> None:
        self.records.append(record)
        self._arrived.set()

    async def wait_for(self, count: int, within: float = 5.0) -> list[UsageRecord]:
        async with asyncio.timeout(within):
            while len(self.records) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.records


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    """A scripted upstream: records every request, answers with `handler`."""

    handler: Handler | None = None
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            Seen(
                request.method,
                request.path,
                request.query_string,
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        if self.handler is None:
            return web.json_response(CHAT_COMPLETION)
        return await self.handler(request)


CHAT_COMPLETION = {
    "id": "chatcmpl-up1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi from upstream"},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 11,
        "completion_tokens": 4,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 3},
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_pids(master: int) -> list[int]:
    """The children of a gunicorn master (its workers), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == master:
                found.append(int(entry))
    return found


def socket_owner(local_port: int, remote_port: int, pids: list[int]) -> int:
    """Which of `pids` holds the TCP socket from `local_port` to `remote_port` (on loopback)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            local, remote = int(cols[1].rsplit(":", 1)[1], 16), int(cols[2].rsplit(":", 1)[1], 16)
            if local == local_port and remote == remote_port:
                inode = cols[9]
    assert inode is not None, f"no socket {local_port} -> {remote_port}"
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError(f"none of {pids} holds the socket {local_port} -> {remote_port}")


class Lane:
    """One keep-alive HTTP/1.1 connection, so every request on it meets the same worker."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.port = writer.get_extra_info("sockname")[1]

    @classmethod
    async def open(cls, port: int) -> Lane:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, method: str, path: str, token: str, body: bytes = b"") -> int:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readuntil(b"\r\n")
        length = 0
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()

    async def aclose(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


async def lanes_on_every_worker(port: int, workers: list[int], each: int) -> dict[int, list[Lane]]:
    """Keep-alive connections to a gunicorn server until every worker holds `each`."""
    lanes: dict[int, list[Lane]] = {pid: [] for pid in workers}
    for _ in range(20 * each * len(workers)):
        lane = await Lane.open(port)
        assert await lane.send("GET", "/healthz", "x") == 200
        lanes[socket_owner(port, lane.port, workers)].append(lane)
        if all(len(v) >= each for v in lanes.values()):
            return lanes
    raise AssertionError(f"connections did not spread over every worker: {lanes}")


def sse(*events: bytes) -> bytes:
    return b"".join(b"data: " + e + b"\n\n" for e in events)


async def raw_request(
    url: str, target: str, *, method: str = "GET", headers: str = ""
) -> tuple[int, bytes]:
    """Send a request line exactly as given (no client-side path normalisation)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n".encode()
        )
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = _dechunk(body)
    return status, body


async def raw_post_json(
    url: str, target: str, header_lines: bytes, body: bytes
) -> tuple[int, bytes]:
    """POST `body` as JSON with `header_lines` exactly as given (e.g. bytes that are not UTF-8)."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
            + header_lines
            + b"\r\n"
            + body
        )
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out


def _log_files(directory: Path) -> tuple[BinaryIO, BinaryIO]:
    return open(directory / "out.log", "wb"), open(directory / "err.log", "wb")


async def spawn_logged(
    directory: Path, *args: str, env: dict[str, str]
) -> asyncio.subprocess.Process:
    """Start a process whose output goes to out.log/err.log in `directory`.

    Files, not pipes: nobody reads a pipe while requests run, and a full pipe
    blocks the process writing to it.
    """
    out, err = _log_files(directory)
    try:
        return await asyncio.create_subprocess_exec(*args, env=env, stdout=out, stderr=err)
    finally:
        out.close()
        err.close()


async def wait_until_answering(url: str, proc: asyncio.subprocess.Process, directory: Path) -> None:
    """Poll an external process's /healthz until it answers (or it dies)."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if proc.returncode is not None:
                log = (directory / "err.log").read_text()[-2000:]
                raise AssertionError(f"process exited early: {log}")
            try:
                async with session.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("process did not start answering")


class ConfigAPIStub:
    """A Config API on loopback: documents per user, call counts, scriptable failures."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, object]] = {}
        self.calls: dict[str, int] = {}
        self.auth_headers: list[str | None] = []
        self.status: int | None = None  # force every answer to this status
        self.hold: asyncio.Event | None = None  # when set, answers wait for it
        self.entered = asyncio.Event()
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/users/{user_id}/config", self._config)
        app.router.add_get("/", self._root)
        return app

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(text="config api")

    async def _config(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        self.calls[user_id] = self.calls.get(user_id, 0) + 1
        self.auth_headers.append(request.headers.get("Authorization"))
        doc = self.docs.get(user_id)  # read before holding: a slow answer carries the old doc
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.status is not None:
            return web.json_response({"error": "scripted"}, status=self.status)
        if doc is None:
            return web.json_response({"error": "no such user"}, status=404)
        return web.json_response(doc)

    def total_calls(self) -> int:
        return sum(self.calls.values())


def mint_jwt(sub: str, secret: str = "test-jwt-secret-0123456789abcdef", **claims: object) -> str:
    import time

    import jwt

    payload = {"sub": sub, "exp": int(time.time()) + 3600, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


class WebhookReceiver:
    """A telemetry receiver on loopback: keeps every POST, scriptable failures."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.status = 200
        self.hang: asyncio.Event | None = None  # when set (not yet released), answers wait
        self.posts = 0
        self._arrived = asyncio.Event()
        self._posted = asyncio.Event()
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/events", self._receive)
        return app

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.posts += 1
        self._posted.set()
        if self.hang is not None:
            await self.hang.wait()
        if self.status != 200:
            return web.Response(status=self.status)
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        self._arrived.set()
        return web.Response(status=204)

    async def wait_posts(self, count: int, within: float = 10.0) -> None:
        """Wait until at least `count` POSTs arrived, whatever was answered."""
        async with asyncio.timeout(within):
            while self.posts < count:
                self._posted.clear()
                await self._posted.wait()

    def events(self) -> list[dict[str, object]]:
        import orjson

        out: list[dict[str, object]] = []
        for body in self.bodies:
            doc = orjson.loads(body)
            out.extend(doc if isinstance(doc, list) else [doc])
        return out

    def of_type(self, event_type: str) -> list[dict[str, object]]:
        return [e for e in self.events() if e["event_type"] == event_type]

    async def wait_for(self, predicate, within: float = 10.0) -> list[dict[str, object]]:
        """Wait until `predicate(events)` holds (each POST wakes the check)."""
        async with asyncio.timeout(within):
            while not predicate(self.events()):
                self._arrived.clear()
                await self._arrived.wait()
        return self.events()


def make_call(
    body: bytes = b'{"model":"gpt-4o-mini"}',
    *,
    path: str = "/v1/chat/completions",
    query: str = "",
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> Call:
    """A Call as the edge hands it to the exchange: path, query and body read."""
    record = UsageRecord("ev_test", "req_test", time.time(), method, path)
    call = Call(record, time.perf_counter(), CIMultiDictProxy(CIMultiDict(headers or {})))
    call.path, call.query = path, query
    call.body = inspect_body(body, "application/json")
    return call


@asynccontextmanager
async def upstream_session(connect_timeout: float = 5.0) -> AsyncIterator[aiohttp.ClientSession]:
    """The worker's tenant session as static mode builds it (loopback allowed)."""
    session = build_session(16, connect_timeout, DestinationPolicy(strict=False))
    try:
        yield session
    finally:
        await session.close()


class TCPRelay:
    """A loopback relay to a real TCP service that a test can cut, as an outage would:
    open connections are reset and new ones refused."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._open: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._open:
            writer.transport.abort()
        self._open.clear()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._open += [writer, up_writer]
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.transport.abort()


class OwnRedis:
    """A throwaway redis-server on a free port that a test may stop, freeze (SIGSTOP) and
    start again: never the shared one (tests/cache/conftest.py: the `own_redis` fixture)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stdout is not None
        async with asyncio.timeout(10):
            async for line in self.proc.stdout:
                if b"Ready to accept connections" in line:
                    return
        raise AssertionError("redis-server did not start")

    def freeze(self) -> None:
        """The socket stays open and connections are still accepted; nothing answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGCONT)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGCONT)  # in case a test froze it
            self.proc.terminate()
            await self.proc.wait()


class StubResolver(AbstractResolver):
    """DNS for a test: each name's answers in turn (the last one repeats)."""

    def __init__(self, table: dict[str, str | list[str]]) -> None:
        self.table = {k: [v] if isinstance(v, str) else list(v) for k, v in table.items()}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = self.table[host]
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        ipv6 = ":" in address
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ipv6 else socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        pass
