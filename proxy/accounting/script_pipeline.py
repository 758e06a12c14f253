"""Many calls of one Lua script in one Redis round trip.

One redis-py call costs 57-70 us of CPU on loopback (a pipeline object, the pool's
lock and timeout, retries, observability hooks); pipelined, 13-15 us each. So the
quota sends every script call of a cycle as one pipeline of EVALSHAs (not a
transaction: each call is atomic on its own), over a connection of its own: the
quota's loop sends one batch at a time, so the batch is written straight to that
connection and its replies read back, with none of the client's per-call machinery.
The caller bounds the round trip (`RedisGate`: REDIS_TIMEOUT); a round trip that
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

from collections.abc import Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, ResponseError

from proxy.redis_gate import RedisClient


class Prefix:
    """Arguments shared by many calls, and their RESP bulk strings."""

    __slots__ = ("args", "resp")

    def __init__(self, args: Sequence[Any]) -> None:
        self.args = tuple(args)
        self.resp = _bulk_strings(self.args)[1]


class ScriptPipeline:
    """Sends calls of `script` (whose SHA-1 is `sha`) to `redis`, one round trip each
    time; `close` closes its connection."""

    def __init__(self, redis: RedisClient, script: str, sha: str) -> None:
        self._redis = redis
        self._script = script
        self._sha = sha
        self._command = f"\r\n$7\r\nEVALSHA\r\n${len(sha)}\r\n{sha}"
        self._connection: AbstractConnection | None = None

    async def send(self, calls: Sequence[Sequence[Any]]) -> list[Any]:
        """One pipeline of EVALSHAs; the script is loaded (once) if Redis lacks it."""
        replies = await self._round_trip(calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            await self._redis.script_load(self._script)
            again = await self._round_trip([calls[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.disconnect()

    async def _round_trip(self, calls: Sequence[Sequence[Any]]) -> list[Any]:
        connection = self._connection or self._open()
        if connection is None:
            return await self._pipeline(calls)
        try:
            await connection.send_packed_command(
                _evalsha_commands(self._command, calls), check_health=False
            )
            replies: list[Any] = []
            for _ in calls:
                try:
                    replies.append(await connection.read_response())
                except ResponseError as e:
                    replies.append(e)
            return replies
        except BaseException:  # the connection's state is unknown: start afresh
            await connection.disconnect(nowait=True)
            raise

    def _open(self) -> AbstractConnection | None:
        """A connection like the pool's (address, credentials, database, TLS) whose
        reads have no timeout of their own: the caller bounds the whole round trip."""
        pool = getattr(self._redis, "connection_pool", None)
        if pool is None:
            return None
        self._connection = pool.connection_class(
            **{**pool.connection_kwargs, "socket_timeout": None}
        )
        return self._connection

    async def _pipeline(self, calls: Sequence[Sequence[Any]]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for call in calls:
            # Not pipe.evalsha: redis-py blocks that name in a cluster pipeline; the
            # command itself is routed by its keys (one slot: they share the tenant's
            # tag), and the pipeline sends each node its share at once.
            args = [a for arg in call for a in (arg.args if type(arg) is Prefix else (arg,))]
            pipe.execute_command("EVALSHA", self._sha, *args)
        return list(await pipe.execute(raise_on_error=False))


def _evalsha_commands(command: str, calls: Sequence[Sequence[Any]]) -> bytes:
    """The calls as RESP commands, `command` (EVALSHA and the sha, each with its CRLF
    first) and the arguments each: str and int arguments (what the quota sends) written
    directly, a Prefix as its RESP, anything else as its str()."""
    parts = []
    for call in calls:
        count, args = _bulk_strings(call)
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
