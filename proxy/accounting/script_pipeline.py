"""Many calls of one Lua script in one Redis round trip.

One redis-py call costs 57-70 us of CPU on loopback (a pipeline object, the pool's
lock and timeout, retries, observability hooks); pipelined, 13-15 us each. So the
quota sends every script call of a cycle as one pipeline of EVALSHAs (not a
transaction: each call is atomic on its own), over a connection of its own: the
quota's loop sends one batch at a time, so the batch is written straight to that
connection and its replies read back, with none of the client's per-call machinery:
redis-py opens and greets the connection (address, credentials, database, TLS), then
`_Replies` reads its socket, parsing replies as they arrive and waking the caller once,
when the round trip's last reply is in (no stream, no coroutine per reply). The
caller bounds the round trip (`RedisGate`: REDIS_TIMEOUT); a round trip that
fails or is cut off closes the connection, and the next one opens it again.

A Redis that lacks the script (restart, SCRIPT FLUSH) answers NOSCRIPT: the script is
loaded once and those calls sent again. Errors come back as replies, one per call,
never raised. A client without a single connection pool (a cluster client) gets its
calls sent as a redis-py pipeline.

The commands are built as one str and encoded once (the cheapest way CPython has to
write integers in RESP); an argument may be a `Prefix`, arguments many calls share (a
tenant's keys) written as RESP once, which stands for its arguments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, NoScriptError

from proxy.redis_gate import RedisClient

_NOT_ENOUGH = object()  # what the parser answers while a reply is incomplete


class Prefix:
    """Arguments shared by many calls, and their RESP bulk strings."""

    __slots__ = ("args", "resp")

    def __init__(self, args: Sequence[Any]) -> None:
        self.args = tuple(args)
        self.resp = _bulk_strings(self.args)[1]


class Packed:
    """One call already written as RESP (`count` arguments, their bulk strings in
    `resp`), and how to list its arguments for a client that sends through redis-py."""

    __slots__ = ("count", "resp", "arguments")

    def __init__(self, count: int, resp: str, arguments: Callable[[], Sequence[Any]]) -> None:
        self.count = count
        self.resp = resp
        self.arguments = arguments


def bulk(value: int | str) -> str:
    """One RESP bulk string, CRLF first: an int in ASCII, a str in UTF-8."""
    text = value if type(value) is str else str(value)
    size = len(text) if text.isascii() else len(text.encode())
    return f"\r\n${size}\r\n{text}" if size >= len(HEADS) else HEADS[size] + text


# The head of a bulk string of each length up to 63 (each length written once): any
# int argument's.
HEADS = tuple(f"\r\n${n}\r\n" for n in range(64))


Call = Sequence[Any] | Packed


class _Replies(asyncio.Protocol):
    """The reading side of the pipeline's connection: what Redis sends is parsed as it
    arrives (hiredis), and a round trip's one future is resolved once all its replies
    are in; no stream, no coroutine per reply. Errors are replies, as redis-py makes
    them (NOSCRIPT a `NoScriptError`)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        # The stream's writer is kept (dropped, it would close the socket) and closes it.
        self._writer = writer
        self._transport = transport = writer.transport
        self._parser = hiredis.Reader(
            protocolError=InvalidResponse,
            replyError=BaseParser.parse_error,
            notEnoughData=_NOT_ENOUGH,
        )
        self._replies: list[Any] = []
        self._expected = 0
        self._done: asyncio.Future[list[Any]] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lost: RedisConnectionError | None = None
        transport.set_protocol(self)

    def round_trip(
        self, commands: bytes, count: int, deadline: float | None
    ) -> asyncio.Future[list[Any]]:
        """Send `commands` and resolve to their `count` replies, or to TimeoutError at
        `deadline` (loop time; None: no limit)."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        if self._lost is not None:
            done.set_exception(self._lost)
            return done
        self._replies, self._expected, self._done = [], count, done
        if deadline is not None:
            self._timer = loop.call_at(deadline, self._expire)
        self._transport.write(commands)
        return done

    def _expire(self) -> None:
        self._timer = None
        self._finish(TimeoutError("Redis did not answer in time"))

    def _finish(self, error: BaseException | None) -> None:
        """Resolve the round trip in flight (its replies, or `error`)."""
        done, self._done = self._done, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if done is not None and not done.done():
            if error is None:
                done.set_result(self._replies)
            else:
                done.set_exception(error)

    def data_received(self, data: bytes) -> None:
        parser, replies = self._parser, self._replies
        parser.feed(data)
        reply = parser.gets()
        while reply is not _NOT_ENOUGH:
            replies.append(reply)
            reply = parser.gets()
        if len(replies) >= self._expected and self._done is not None:
            self._finish(None)

    def eof_received(self) -> bool:
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = RedisConnectionError(f"Redis closed the connection ({exc!r})")
        self._finish(self._lost)

    def close(self) -> None:
        """Close the socket; a round trip in flight fails (`connection_lost`)."""
        self._writer.close()


class ScriptPipeline:
    """Sends calls of `script` (whose SHA-1 is `sha`) to `redis`, one round trip each
    time; `close` closes its connection."""

    def __init__(self, redis: RedisClient, script: str, sha: str) -> None:
        self._redis = redis
        self._script = script
        self._sha = sha
        self._command = f"\r\n$7\r\nEVALSHA\r\n${len(sha)}\r\n{sha}"
        self._connection: _Replies | None = None

    async def send(self, calls: Sequence[Call], deadline: float | None = None) -> list[Any]:
        """One pipeline of EVALSHAs; the script is loaded (once) if Redis lacks it.
        `deadline` (loop time): TimeoutError when it passes first."""
        replies = await self._round_trip(calls, deadline)
        for reply in replies:
            if isinstance(reply, NoScriptError):
                return await self._load_and_resend(calls, replies, deadline)
        return replies

    async def _load_and_resend(
        self, calls: Sequence[Call], replies: list[Any], deadline: float | None
    ) -> list[Any]:
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        async with asyncio.timeout_at(deadline):
            await self._redis.script_load(self._script)
        again = await self._round_trip([calls[i] for i in missing], deadline)
        for i, reply in zip(missing, again, strict=True):
            replies[i] = reply
        return replies

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def _round_trip(self, calls: Sequence[Call], deadline: float | None) -> list[Any]:
        if self._connection is None:
            async with asyncio.timeout_at(deadline):
                if getattr(self._redis, "connection_pool", None) is None:
                    return await self._pipeline(calls)
                self._connection = await self._open()
        connection = self._connection
        try:
            return await connection.round_trip(
                _evalsha_commands(self._command, calls), len(calls), deadline
            )
        except BaseException:  # the connection's state is unknown: start afresh
            connection.close()
            if self._connection is connection:
                self._connection = None
            raise

    async def _open(self) -> _Replies:
        """A connection like the pool's (address, credentials, database, TLS), opened
        and greeted by redis-py, whose socket is then read by `_Replies`: no read
        timeout of its own (the caller bounds the whole round trip)."""
        pool = self._redis.connection_pool  # type: ignore[union-attr]
        connection = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
        try:
            await connection.connect()
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        writer = connection._writer
        assert writer is not None
        # The socket is ours from here on: redis-py's streams let go of it unclosed.
        connection._reader = connection._writer = None
        return _Replies(writer)

    async def _pipeline(self, calls: Sequence[Call]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for each in calls:
            call = each.arguments() if isinstance(each, Packed) else each
            # Not pipe.evalsha: redis-py blocks that name in a cluster pipeline; the
            # command itself is routed by its keys (one slot: they share the tenant's
            # tag), and the pipeline sends each node its share at once.
            args = [a for arg in call for a in (arg.args if type(arg) is Prefix else (arg,))]
            pipe.execute_command("EVALSHA", self._sha, *args)
        return list(await pipe.execute(raise_on_error=False))


def _evalsha_commands(command: str, calls: Sequence[Call]) -> bytes:
    """The calls as RESP commands, `command` (EVALSHA and the sha, each with its CRLF
    first) and the arguments each: a `Packed` call as it is; else str and int arguments
    (what the quota sends) written directly, a Prefix as its RESP, anything else as its
    str()."""
    parts = []
    for call in calls:
        if type(call) is Packed:
            count, args = call.count, call.resp
        else:
            count, args = _bulk_strings(call)  # type: ignore[arg-type]
        parts.append(f"*{2 + count}{command}{args}\r\n")
    return "".join(parts).encode()


def _bulk_strings(args: Sequence[Any]) -> tuple[int, str]:
    """How many arguments, and their RESP bulk strings, each CRLF first (its length
    counted in UTF-8 bytes)."""
    parts = []
    count = len(args)
    for arg in args:
        if type(arg) is int:  # most of them: written in ASCII
            text = str(arg)
            parts.append(f"\r\n${len(text)}\r\n{text}")
        elif type(arg) is Prefix:
            parts.append(arg.resp)
            count += len(arg.args) - 1
        else:
            text = arg if type(arg) is str else str(arg)
            size = len(text) if text.isascii() else len(text.encode())
            parts.append(f"\r\n${size}\r\n{text}")
    return count, "".join(parts)
