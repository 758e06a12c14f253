"""An Anthropic Messages event stream as `chat.completion.chunk` events, as it arrives.

Each upstream event is parsed once and written at once; the translator keeps only
the unfinished SSE line, the chunk head (id, created, model) and a map of tool-use
block indexes to `tool_calls` indexes, so its memory does not grow with the stream.

    message_start                   -> a chunk with delta {role: assistant, content: ""}
    content_block_start tool_use    -> a tool_calls delta: index, id, type, name, ""
    text_delta                      -> a content delta
    input_json_delta                -> a tool_calls arguments delta (same index)
    message_delta                   -> a chunk with finish_reason
    message_stop                    -> the usage chunk (only when the client asked), [DONE]
    error                           -> an OpenAI error event; nothing follows
    ping, thinking, citations       -> nothing
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from proxy.errors import ProxyError
from proxy.providers.translation.sse import DONE, SSEReader, data_event
from proxy.providers.translation.vocabulary import finish_reason, openai_usage, usage_of_anthropic
from proxy.streaming.usage import Usage

_TAIL = b',"logprobs":null,"finish_reason":null}]}'
_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


class AnthropicToOpenAIStream:
    """Feed upstream Anthropic SSE bytes; get OpenAI chat-completion SSE bytes back."""

    __slots__ = (
        "_reader",
        "_model",
        "_created",
        "_include_usage",
        "_head",
        "_tools",
        "_counts",
        "complete",
        "failed",
    )

    def __init__(self, *, model: str, include_usage: bool, created: int | None = None) -> None:
        self._reader = SSEReader()
        self._model = orjson.dumps(model)
        self._created = str(int(time.time()) if created is None else created).encode()
        self._include_usage = include_usage
        self._head = b""
        self._tools: dict[int, int] = {}
        self._counts: dict[str, int] = {}
        self.complete = False  # message_stop arrived: [DONE] was written
        self.failed = False  # the upstream sent an error event: it was written, nothing follows

    @property
    def usage(self) -> Usage:
        """The usage the upstream stated so far (input counts cache reads and writes)."""
        return usage_of_anthropic(self._counts)

    def feed(self, chunk: bytes) -> bytes:
        """The translation of every event this chunk completes."""
        return b"".join([self._event(data) for _, data in self._reader.feed(chunk)])

    def finish(self) -> bytes:
        """The translation of an event the upstream left without its blank line."""
        return b"".join([self._event(data) for _, data in self._reader.close()])

    def error_event(self, error: ProxyError) -> bytes:
        """The final event of a broken stream, in OpenAI's format (no [DONE] follows)."""
        return error.sse_event()

    def _event(self, data: bytes) -> bytes:
        if self.complete or self.failed:
            return b""
        try:
            doc = orjson.loads(data)
            kind = doc.get("type")
        except (orjson.JSONDecodeError, AttributeError):
            return self._upstream_error({"message": "the upstream sent an unreadable event"})
        if kind == "content_block_delta":
            return self._delta(doc)
        if kind == "content_block_start":
            return self._block_start(doc)
        if kind == "message_start":
            return self._message_start(doc["message"])
        if kind == "message_delta":
            return self._message_delta(doc)
        if kind == "message_stop":
            return self._message_stop()
        if kind == "error":
            return self._upstream_error(doc.get("error") or {})
        return b""

    def _chunk(self, delta: bytes, tail: bytes = _TAIL) -> bytes:
        return b"data: " + self._head + b'{"index":0,"delta":' + delta + tail + b"\n\n"

    def _message_start(self, message: dict[str, Any]) -> bytes:
        self._head = (
            b'{"id":' + orjson.dumps(message.get("id")) + b',"object":"chat.completion.chunk"'
            b',"created":' + self._created + b',"model":' + self._model + b',"choices":['
        )
        self._take_usage(message.get("usage"))
        return self._chunk(b'{"role":"assistant","content":""}')

    def _block_start(self, doc: dict[str, Any]) -> bytes:
        block = doc.get("content_block") or {}
        if block.get("type") == "text" and block.get("text"):
            return self._chunk(b'{"content":' + orjson.dumps(block["text"]) + b"}")
        if block.get("type") != "tool_use":
            return b""
        index = self._tools[doc["index"]] = len(self._tools)
        call = {
            "index": index,
            "id": block.get("id"),
            "type": "function",
            "function": {"name": block.get("name"), "arguments": ""},
        }
        return self._chunk(b'{"tool_calls":[' + orjson.dumps(call) + b"]}")

    def _delta(self, doc: dict[str, Any]) -> bytes:
        delta = doc.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return self._chunk(b'{"content":' + orjson.dumps(delta.get("text", "")) + b"}")
        if (
            kind == "input_json_delta"
            and delta.get("partial_json")
            and doc.get("index") in self._tools
        ):
            index = str(self._tools[doc["index"]]).encode()
            arguments = orjson.dumps(delta.get("partial_json", ""))
            call = b'{"index":' + index + b',"function":{"arguments":' + arguments + b"}}"
            return self._chunk(b'{"tool_calls":[' + call + b"]}")
        return b""

    def _message_delta(self, doc: dict[str, Any]) -> bytes:
        self._take_usage(doc.get("usage"))
        reason = finish_reason((doc.get("delta") or {}).get("stop_reason"))
        return self._chunk(b"{}", b',"logprobs":null,"finish_reason":"' + reason.encode() + b'"}]}')

    def _message_stop(self) -> bytes:
        self.complete = True
        if not self._include_usage:
            return DONE
        usage = orjson.dumps(openai_usage(self.usage))
        return data_event(self._head + b'],"usage":' + usage + b"}") + DONE

    def _upstream_error(self, error: dict[str, Any]) -> bytes:
        self.failed = True
        body = {
            "message": error.get("message") or "the upstream stream failed",
            "type": "upstream_error",
            "code": "upstream_stream_error",
            "param": None,
        }
        return data_event(orjson.dumps({"error": body}))

    def _take_usage(self, block: dict[str, Any] | None) -> None:
        for key in _USAGE_KEYS:
            value = (block or {}).get(key)
            if value is not None:
                self._counts[key] = value
