"""A `chat.completion.chunk` stream as Anthropic Messages events, as it arrives.

The upstream request asks `stream_options.include_usage` (the request translator sets
it), so the usage chunk arrives between the finish reason and `[DONE]`: the closing
`message_delta` (stop reason, usage with the input tokens) and `message_stop` go out at
`[DONE]`. The translator keeps only the unfinished SSE line, the open block and a map
of `tool_calls` indexes to block indexes, so its memory does not grow with the stream.

    first chunk              -> message_start (input tokens 0 until the final usage)
    content / refusal delta  -> a text block (started when needed) and its text_delta
    tool_calls delta with id -> the open block stops; a tool_use block starts
    arguments delta          -> input_json_delta on that tool call's block
    finish_reason            -> the open block stops; the stop reason is kept
    [DONE]                   -> message_delta (stop reason, usage), message_stop
    {"error": ...}           -> an Anthropic error event; nothing follows
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.errors import ProxyError
from proxy.providers.translation.sse import SSEReader, named_event
from proxy.providers.translation.vocabulary import anthropic_usage, stop_reason, usage_of_openai
from proxy.streaming.usage import Usage

_NO_BLOCK = -1


class OpenAIToAnthropicStream:
    """Feed upstream OpenAI chat-completion SSE bytes; get Anthropic SSE bytes back."""

    __slots__ = (
        "_reader",
        "_model",
        "_started",
        "_open",
        "_next",
        "_tools",
        "_usage",
        "_stop_reason",
        "complete",
        "failed",
    )

    def __init__(self, *, model: str) -> None:
        self._reader = SSEReader()
        self._model = model
        self._started = False
        self._open = _NO_BLOCK  # index of the block started and not yet stopped
        self._next = 0  # index of the next block
        self._tools: dict[int, int] = {}  # tool_calls index -> block index
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self.complete = False  # message_stop was written
        self.failed = False  # the upstream sent an error event: it was written, nothing follows

    @property
    def usage(self) -> Usage:
        """The usage the upstream stated (prompt tokens count cached ones)."""
        return usage_of_openai(self._usage)

    def feed(self, chunk: bytes) -> bytes:
        """The translation of every event this chunk completes."""
        return b"".join([self._event(data) for _, data in self._reader.feed(chunk)])

    def finish(self) -> bytes:
        """What the upstream left unsaid: a last event without its blank line, or the
        closing events when it gave a finish reason but no `[DONE]`."""
        out = b"".join([self._event(data) for _, data in self._reader.close()])
        if self._stop_reason is not None and not (self.complete or self.failed):
            out += self._message_end()
        return out

    def error_event(self, error: ProxyError) -> bytes:
        """The final event of a broken stream, in Anthropic's format."""
        return _error_event(error.message)

    def _event(self, data: bytes) -> bytes:
        if self.complete or self.failed:
            return b""
        if data == b"[DONE]":
            return self._message_end()
        try:
            doc = orjson.loads(data)
            error = doc.get("error")
        except (orjson.JSONDecodeError, AttributeError):
            doc, error = {}, {"message": "the upstream sent an unreadable event"}
        if error is not None:
            self.failed = True
            message = error.get("message") if isinstance(error, dict) else None
            return _error_event(message or "the upstream stream failed")
        out = b"" if self._started else self._message_start(doc)
        if doc.get("usage"):
            self._usage = doc["usage"]
        for choice in doc.get("choices") or ():
            out += self._choice(choice)
        return out

    def _message_start(self, doc: dict[str, Any]) -> bytes:
        self._started = True
        message: dict[str, Any] = {
            "id": doc.get("id"),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return named_event(b"message_start", {"type": "message_start", "message": message})

    def _choice(self, choice: dict[str, Any]) -> bytes:
        delta = choice.get("delta") or {}
        out = b""
        text = delta.get("content") or delta.get("refusal")
        if text:
            out += self._text(text)
        for call in delta.get("tool_calls") or ():
            out += self._tool_call(call)
        if choice.get("finish_reason"):
            self._stop_reason = stop_reason(choice["finish_reason"])
            out += self._stop_block()
        return out

    def _text(self, text: str) -> bytes:
        out = b""
        if self._open == _NO_BLOCK or self._open in self._tools.values():
            out = self._stop_block() + self._start_block({"type": "text", "text": ""})
        return out + (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            + str(self._open).encode()
            + b',"delta":{"type":"text_delta","text":'
            + orjson.dumps(text)
            + b"}}\n\n"
        )

    def _tool_call(self, call: dict[str, Any]) -> bytes:
        out = b""
        function = call.get("function") or {}
        index = call.get("index", 0)
        if index not in self._tools:
            block = {"type": "tool_use", "id": call.get("id"), "name": function.get("name")}
            out = self._stop_block() + self._start_block({**block, "input": {}})
            self._tools[index] = self._open
        arguments = function.get("arguments")
        if not arguments:
            return out
        return out + (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            + str(self._tools[index]).encode()
            + b',"delta":{"type":"input_json_delta","partial_json":'
            + orjson.dumps(arguments)
            + b"}}\n\n"
        )

    def _start_block(self, block: dict[str, Any]) -> bytes:
        self._open, self._next = self._next, self._next + 1
        event = {"type": "content_block_start", "index": self._open, "content_block": block}
        return named_event(b"content_block_start", event)

    def _stop_block(self) -> bytes:
        if self._open == _NO_BLOCK:
            return b""
        index, self._open = self._open, _NO_BLOCK
        return named_event(b"content_block_stop", {"type": "content_block_stop", "index": index})

    def _message_end(self) -> bytes:
        self.complete = True
        delta = {"stop_reason": self._stop_reason or "end_turn", "stop_sequence": None}
        event = {"type": "message_delta", "delta": delta, "usage": anthropic_usage(self._usage)}
        return (
            (self._stop_block() if self._started else self._message_start({}))
            + named_event(b"message_delta", event)
            + named_event(b"message_stop", {"type": "message_stop"})
        )


def _error_event(message: str) -> bytes:
    return named_event(
        b"error", {"type": "error", "error": {"type": "api_error", "message": message}}
    )
