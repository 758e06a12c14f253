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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, ResponseError

from proxy.redis_gate import RedisClient


class ScriptPipeline:
    """Sends calls of `script` (whose SHA-1 is `sha`) to `redis`, one round trip each
    time; `close` closes its connection."""

    def __init__(self, redis: RedisClient, script: str, sha: str) -> None:
        self._redis = redis
        self._script = script
        self._sha = sha
        self._sha_bytes = sha.encode()
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
                _evalsha_commands(self._sha_bytes, calls), check_health=False
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
            pipe.execute_command("EVALSHA", self._sha, *call)
        return list(await pipe.execute(raise_on_error=False))


def _evalsha_commands(sha: bytes, calls: Sequence[Sequence[Any]]) -> bytes:
    """The calls as RESP commands, `EVALSHA sha *call` each: str and int arguments
    (what the quota sends) written directly, anything else as its str()."""
    out = bytearray()
    for call in calls:
        out += b"*%d\r\n$7\r\nEVALSHA\r\n$%d\r\n%s\r\n" % (len(call) + 2, len(sha), sha)
        for arg in call:
            data = (
                arg.encode()
                if isinstance(arg, str)
                else b"%d" % arg
                if type(arg) is int
                else str(arg).encode()
            )
            out += b"$%d\r\n%s\r\n" % (len(data), data)
    return bytes(out)
