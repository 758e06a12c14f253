"""JSON logging: one object per line, for people's logs and the request log.

`configure_logging` makes the stdlib loggers print JSON. `RequestLogSink` is the
usage sink that writes the one line per request: records are serialised with
orjson when they arrive and written in batches by a background task, so a request
never waits on a log write.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import IO, Any

import orjson

from proxy.usage_record import UsageRecord

# LogRecord attributes that are not `extra=` fields.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_REQUEST_PREFIX = b'{"level":"info","logger":"proxy.request","msg":"request",'


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


class RequestLogSink:
    """Writes one JSON line per request, batched off the request path."""

    def __init__(self, stream: IO[bytes] | None = None, *, interval: float = 0.2) -> None:
        self._stream = stream if stream is not None else sys.stderr.buffer
        self._interval = interval
        self._lines: list[bytes] = []
        self._wake = asyncio.Event()

    def emit(self, record: UsageRecord) -> None:
        self._lines.append(
            _REQUEST_PREFIX + orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)[1:]
        )
        if len(self._lines) >= 512:
            self._wake.set()

    def flush(self) -> None:
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        try:
            self._stream.write(b"".join(lines))
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken log stream loses lines, not requests
            pass

    async def run(self) -> None:
        """Flush every `interval` (sooner when many lines wait) until cancelled."""
        try:
            while True:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._interval)
                except TimeoutError:
                    pass
                self._wake.clear()
                self.flush()
        finally:
            self.flush()
