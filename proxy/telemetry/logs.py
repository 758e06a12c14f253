"""JSON logging: one object per line, for people's logs and the request log.

`configure_logging` makes the stdlib loggers print JSON. `RequestLogSink` is the
usage sink that writes the one line per request: records are serialised with
orjson when they arrive and written in batches by a background task, so a request
never waits on a log write. When stderr is a pipe or a socket (a container's log
driver, journald) the batches are written from a worker thread: a write larger than
the pipe's buffer blocks until its reader catches up (a batch is ~0.2 s of lines,
~270 KB at 3,000 requests/s), and a lagging reader stalled the event loop.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import stat
import sys
from typing import IO, Any

import orjson

from proxy.usage_record import UsageRecord

# LogRecord attributes that are not `extra=` fields.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_REQUEST_PREFIX = b'{"level":"info","logger":"proxy.request","msg":"request",'
MAX_WAITING_LINES = 100_000  # ~45 MB of lines behind a stuck log stream


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def configure_logging(level: str = "INFO", stream: IO[str] | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_tenant_proxy", False):
            root.removeHandler(old)
    handler._tenant_proxy = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


def _may_block(stream: IO[bytes]) -> bool:
    """Whether a write to `stream` can wait on a reader: a pipe or a socket."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class RequestLogSink:
    """Writes one JSON line per request, batched off the request path."""

    def __init__(
        self,
        stream: IO[bytes] | None = None,
        *,
        interval: float = 0.2,
        max_waiting: int = MAX_WAITING_LINES,
        offload: bool | None = None,
    ) -> None:
        """`max_waiting`: lines kept while the stream is stuck; past it new lines are
        dropped and counted in `dropped` (memory stays bounded, requests never wait).
        `offload`: write from a worker thread; by default when the stream is a pipe or
        a socket (a regular file's write lands in the page cache: no thread needed)."""
        self._stream = stream if stream is not None else sys.stderr.buffer
        self._offload = _may_block(self._stream) if offload is None else offload
        self._interval = interval
        self._max_waiting = max_waiting
        self._lines: list[bytes] = []
        self._wake = asyncio.Event()
        self.dropped = 0

    def emit(self, record: UsageRecord) -> None:
        lines = self._lines
        if len(lines) >= self._max_waiting:
            self.dropped += 1
            return
        lines.append(_REQUEST_PREFIX + orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)[1:])
        if len(lines) >= 512:
            self._wake.set()

    def flush(self) -> None:
        """Write what waits, here and now (tests, and the last flush at shutdown)."""
        data = self._take()
        if data:
            self._write(data)

    def _take(self) -> bytes:
        if not self._lines:
            return b""
        lines, self._lines = self._lines, []
        return b"".join(lines)

    def _write(self, data: bytes) -> None:
        try:
            self._stream.write(data)  # one call per batch: lines are never split
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken log stream loses lines, not requests
            pass

    async def run(self) -> None:
        """Flush every `interval` (sooner when many lines wait) until cancelled; each
        batch is written in the loop's default executor, one batch at a time."""
        loop = asyncio.get_running_loop()
        writing: asyncio.Future[None] | None = None
        try:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._interval)
                except TimeoutError:
                    pass
                self._wake.clear()
                data = self._take()
                if data and not self._offload:
                    self._write(data)
                elif data:
                    writing = loop.run_in_executor(None, self._write, data)
                    await asyncio.shield(writing)  # a cancel waits for it below
        finally:
            if writing is not None and not writing.done():
                await asyncio.wait([writing])  # the batch in the thread goes first
            self.flush()
