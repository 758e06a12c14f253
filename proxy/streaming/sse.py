"""Watching an SSE stream go by: usage extraction, optional usage-chunk removal.

Chunks are relayed as they arrive. The tracker looks only at complete lines that
carry a `"usage"` object; C-speed substring searches rule out the rest, so a chunk
without a usage object costs a few byte searches and no regex.

When the proxy added `stream_options.include_usage` on its own (`drop_usage_chunk`),
the extra usage-only chat event (`"choices":[]` plus `usage`) is removed. In that
mode only complete lines are released; a partial last line waits for its end.
"""

from __future__ import annotations

import re

from proxy.streaming.text import ANY_TEXT, count_chars
from proxy.streaming.usage import Usage, counts_after

_USAGE_KEY = b'"usage"'
_COMPACT_USAGE = b'"usage":{'  # how OpenAI and Anthropic write it
_COMPACT_NO_CHOICES = b'"choices":[]'
_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')  # any JSON encoder
_NO_CHOICES = re.compile(rb'"choices"\s*:\s*\[\s*\]')
_MAX_PENDING = 1 << 20  # a "line" longer than this is not SSE: release it as is
_COUNT_EVERY = 64  # text strings are counted in batches: one count, not one per chunk


class SSETracker:
    """`usage`: what the upstream stated; `text_chars`: characters of generated text
    relayed since its last statement (all of them when it stated none), for a stream
    that ends without usage (streaming.usage.settle_stream)."""

    __slots__ = (
        "usage",
        "relayed_bytes",
        "_text_chars",
        "_found",
        "_text",
        "_text_from",
        "_pending",
        "_drop",
        "_skip_blank",
        "_compact",
    )

    def __init__(
        self, *, drop_usage_chunk: bool = False, text: re.Pattern[bytes] = ANY_TEXT
    ) -> None:
        self.usage = Usage()
        self.relayed_bytes = 0
        self._text_chars = 0  # counted so far; `_found` holds text not yet counted
        self._found: list[bytes] = []
        self._text = text  # the endpoint's text fields (streaming.text)
        self._text_from = 0  # where text starts counting in the block being fed
        self._pending = b""
        self._drop = drop_usage_chunk
        self._skip_blank = False  # the blank line ending a dropped event is next
        self._compact: bool | None = None  # does this stream write `"usage":` unspaced?

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
        if self._skip_blank or (
            _COMPACT_USAGE in complete if self._compact else _USAGE_KEY in complete
        ):
            complete = self._scan(complete)
        found = self._text.findall(complete, self._text_from)
        if found:
            self._found += found
            if len(self._found) >= _COUNT_EVERY:
                self._count_found()
        self._text_from = 0
        out = complete if self._drop else chunk
        self.relayed_bytes += len(out)
        return out

    def finish(self) -> bytes:
        """End of stream: take the unterminated last line into account."""
        rest, self._pending = self._pending, b""
        if rest and _USAGE_KEY in rest:
            rest = self._scan(rest)
        if rest:
            self._found += self._text.findall(rest, self._text_from)
        self._text_from = 0
        if not self._drop:
            return b""
        self.relayed_bytes += len(rest)
        return rest

    @property
    def text_chars(self) -> int:
        """Characters of generated text relayed since the upstream last stated usage."""
        if self._found:
            self._count_found()
        return self._text_chars

    def _count_found(self) -> None:
        self._text_chars += count_chars(self._found)
        self._found.clear()

    def _scan(self, block: bytes) -> bytes:
        """Collect usage from `block` (complete lines); return it minus a dropped event.

        Only lines holding a usage *object* are looked at: OpenAI puts `"usage":null`
        on every chunk of a stream with usage. A stream whose first usage key is
        written compactly (`"usage":null`, `"usage":{`: OpenAI, Anthropic) is searched
        with `bytes.find`, since a JSON encoder keeps one style for a whole stream;
        any other gets a regex that allows whitespace around the colon.
        """
        out = block
        if self._skip_blank:
            self._skip_blank = False
            if out.startswith(b"\r\n"):
                out = out[2:]
            elif out.startswith(b"\n"):
                out = out[1:]
        compact = self._compact
        if compact is None:
            key = out.find(_USAGE_KEY)
            if key < 0:
                return out
            compact = self._compact = out.startswith((b":null", b":{"), key + 7)
        pos = 0
        while True:
            if compact:
                at = out.find(_COMPACT_USAGE, pos)
                if at < 0:
                    return out
                key_end = at + 7
            else:
                found = _USAGE_OBJECT.search(out, pos)
                if found is None:
                    return out
                at, key_end = found.start(), found.end()
            start = out.rfind(b"\n", 0, at) + 1
            end = out.find(b"\n", key_end)
            end = len(out) if end < 0 else end + 1
            line = out[start:end]
            if line.startswith(b"data:"):
                self.usage.merge(counts_after(line, at - start))
                self._text_chars = 0  # the statement covers the text so far
                self._found.clear()
                if self._drop and (
                    _COMPACT_NO_CHOICES in line if compact else _NO_CHOICES.search(line)
                ):
                    # Drop the event: its data line and the blank line that ends it.
                    if out.startswith(b"\r\n", end):
                        end += 2
                    elif out.startswith(b"\n", end):
                        end += 1
                    elif end >= len(out):
                        self._skip_blank = True  # the blank line comes with the next chunk
                    out = out[:start] + out[end:]
                    end = start
                self._text_from = end
            pos = end
