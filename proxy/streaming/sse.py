"""Watching an SSE stream go by: usage extraction, optional usage-chunk removal.

Chunks are relayed as they arrive. The tracker parses only complete lines that
carry a `"usage"` object; a C-speed substring test rules out the rest, so a
chunk without usage costs two byte searches.

When the proxy added `stream_options.include_usage` on its own (`drop_usage_chunk`),
the extra usage-only chat event (`"choices":[]` plus `usage`) is removed. In that
mode only complete lines are released; a partial last line waits for its end.
"""

from __future__ import annotations

import re

from proxy.streaming.usage import Usage, counts_after, usage_object_at

_USAGE_KEY = b'"usage"'
_NO_CHOICES = re.compile(rb'"choices"\s*:\s*\[\s*\]')
_MAX_PENDING = 1 << 20  # a "line" longer than this is not SSE: release it as is


class SSETracker:
    __slots__ = ("usage", "relayed_bytes", "_pending", "_drop", "_skip_blank")

    def __init__(self, *, drop_usage_chunk: bool = False) -> None:
        self.usage = Usage()
        self.relayed_bytes = 0
        self._pending = b""
        self._drop = drop_usage_chunk
        self._skip_blank = False  # the blank line ending a dropped event is next

    def feed(self, chunk: bytes) -> bytes:
        """Take an upstream chunk; return the bytes to send to the client now."""
        data = self._pending + chunk if self._pending else chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) > _MAX_PENDING:
                self._pending = b""
                out = data if self._drop else chunk
            else:
                self._pending = data
                out = b"" if self._drop else chunk
            self.relayed_bytes += len(out)
            return out
        if cut == len(data):
            complete, self._pending = data, b""
        else:
            complete, self._pending = data[:cut], data[cut:]
        if _USAGE_KEY in complete or self._skip_blank:
            complete = self._lines(complete)
        out = complete if self._drop else chunk
        self.relayed_bytes += len(out)
        return out

    def finish(self) -> bytes:
        """End of stream: take the unterminated last line into account."""
        rest, self._pending = self._pending, b""
        if rest and _USAGE_KEY in rest:
            rest = self._lines(rest)
        if not self._drop:
            return b""
        self.relayed_bytes += len(rest)
        return rest

    def _lines(self, block: bytes) -> bytes:
        """Collect usage from `block`; return it without a dropped usage event."""
        kept: list[bytes] = []
        changed = False
        for line in block.splitlines(keepends=True):
            if self._skip_blank:
                self._skip_blank = False
                if not line.strip():
                    changed = True
                    continue
            if _USAGE_KEY in line and line.startswith(b"data:"):
                at = usage_object_at(line)
                if at >= 0:
                    self.usage.merge(counts_after(line, at))
                    if self._drop and _NO_CHOICES.search(line):
                        changed = self._skip_blank = True
                        continue
            kept.append(line)
        return b"".join(kept) if changed else block
