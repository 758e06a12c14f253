"""The `mock` provider: OpenAI- and Anthropic-shaped answers made in process.

For the quickstart, demos and benchmarks of the proxy alone: no network, no key.
Answers carry realistic usage (prompt = request bytes / 4, completion = words
sent) so accounting works end to end. The bench's HTTP mock upstream serves the
same bodies.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from proxy.body import RequestBody
from proxy.streaming.usage import Usage

REPLY_TEXT = "This is a mock response from tenant-proxy."
EMBEDDING_DIMENSIONS = 8


@dataclass(slots=True)
class MockReply:
    status: int
    content_type: str
    body: bytes = b""  # a JSON answer
    events: list[bytes] = field(default_factory=list)  # an SSE answer, one item per event
    usage: Usage = field(default_factory=Usage)


class MockProvider:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._ids = itertools.count(1)
        self._clock = clock
        self._answers: dict[str, Callable[[RequestBody, str], MockReply]] = {
            "/v1/chat/completions": self._chat,
            "/v1/completions": self._completion,
            "/v1/embeddings": self._embeddings,
            "/v1/messages": self._message,
            "/v1/responses": self._response,
        }

    def reply(self, path: str, body: RequestBody, model: str) -> MockReply:
        answer = self._answers.get(path)
        if answer is None:
            return _error(404, f"The mock provider does not serve {path}.")
        return answer(body, model)

    # -- OpenAI chat and completions ------------------------------------------------

    def _chat(self, body: RequestBody, model: str) -> MockReply:
        words, usage = _words_and_usage(body)
        text = "".join(words)
        head = {
            "id": f"chatcmpl-mock{next(self._ids)}",
            "created": int(self._clock()),
            "model": model,
        }
        if not body.stream:
            doc = {
                **head,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": _openai_usage(usage),
                "system_fingerprint": None,
            }
            return MockReply(200, "application/json", orjson.dumps(doc), usage=usage)
        with_usage = body.asks_usage
        chunk = {**head, "object": "chat.completion.chunk", "system_fingerprint": None}
        if with_usage:
            chunk["usage"] = None
        deltas: list[tuple[dict[str, Any], str | None]] = [
            ({"role": "assistant", "content": ""}, None)
        ]
        deltas += [({"content": w}, None) for w in words]
        deltas.append(({}, "stop"))
        events = [
            _data(
                {
                    **chunk,
                    "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": f}],
                }
            )
            for d, f in deltas
        ]
        if with_usage:
            events.append(_data({**chunk, "choices": [], "usage": _openai_usage(usage)}))
        events.append(b"data: [DONE]\n\n")
        return MockReply(200, "text/event-stream", events=events, usage=usage)

    def _completion(self, body: RequestBody, model: str) -> MockReply:
        words, usage = _words_and_usage(body)
        head = {
            "id": f"cmpl-mock{next(self._ids)}",
            "object": "text_completion",
            "created": int(self._clock()),
            "model": model,
        }
        if not body.stream:
            choice = {"text": "".join(words), "index": 0, "logprobs": None, "finish_reason": "stop"}
            doc = {**head, "choices": [choice], "usage": _openai_usage(usage)}
            return MockReply(200, "application/json", orjson.dumps(doc), usage=usage)
        events = [
            _data(
                {
                    **head,
                    "choices": [{"text": w, "index": 0, "logprobs": None, "finish_reason": None}],
                }
            )
            for w in words
        ]
        events.append(
            _data(
                {
                    **head,
                    "choices": [
                        {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
                    ],
                }
            )
        )
        if body.asks_usage:
            events.append(_data({**head, "choices": [], "usage": _openai_usage(usage)}))
        events.append(b"data: [DONE]\n\n")
        return MockReply(200, "text/event-stream", events=events, usage=usage)

    # -- OpenAI embeddings ----------------------------------------------------------

    def _embeddings(self, body: RequestBody, model: str) -> MockReply:
        doc = body.doc or {}
        inputs = doc.get("input")
        if isinstance(inputs, str) or (
            isinstance(inputs, list) and inputs and isinstance(inputs[0], int)
        ):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            return _error(400, "'input' must be a string or a non-empty list.", param="input")
        dims = doc.get("dimensions")
        dims = dims if isinstance(dims, int) and 0 < dims <= 3072 else EMBEDDING_DIMENSIONS
        as_base64 = doc.get("encoding_format") == "base64"
        data, tokens = [], 0
        for i, item in enumerate(inputs):
            text = item if isinstance(item, str) else orjson.dumps(item).decode()
            tokens += max(1, math.ceil(len(text) / 4))
            vector = _vector(text, dims)
            embedding: Any = (
                base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        usage = Usage(input_tokens=tokens, output_tokens=0)
        doc_out = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return MockReply(200, "application/json", orjson.dumps(doc_out), usage=usage)

    # -- Anthropic messages ---------------------------------------------------------

    def _message(self, body: RequestBody, model: str) -> MockReply:
        words, usage = _words_and_usage(body)
        assert usage.input_tokens is not None and usage.output_tokens is not None
        message = {
            "id": f"msg_mock{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": model,
        }
        if not body.stream:
            doc = {
                **message,
                "content": [{"type": "text", "text": "".join(words)}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": _anthropic_usage(usage.input_tokens, usage.output_tokens),
            }
            return MockReply(200, "application/json", orjson.dumps(doc), usage=usage)
        start: dict[str, Any] = {
            **message,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _anthropic_usage(usage.input_tokens, 1),
        }
        events = [
            _event("message_start", {"type": "message_start", "message": start}),
            _event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
        ]
        events += [
            _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": w},
                },
            )
            for w in words
        ]
        events += [
            _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": usage.output_tokens},
                },
            ),
            _event("message_stop", {"type": "message_stop"}),
        ]
        return MockReply(200, "text/event-stream", events=events, usage=usage)

    # -- OpenAI Responses API -------------------------------------------------------

    def _response(self, body: RequestBody, model: str) -> MockReply:
        words, usage = _words_and_usage(body)
        assert usage.input_tokens is not None and usage.output_tokens is not None
        rid, now = next(self._ids), int(self._clock())
        item = {
            "type": "message",
            "id": f"msg_mock{rid}",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "".join(words), "annotations": []}],
        }
        final = {
            "id": f"resp_mock{rid}",
            "object": "response",
            "created_at": now,
            "status": "completed",
            "model": model,
            "output": [item],
            "usage": {
                "input_tokens": usage.input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": usage.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage.input_tokens + usage.output_tokens,
            },
        }
        if not body.stream:
            return MockReply(200, "application/json", orjson.dumps(final), usage=usage)
        created = {**final, "status": "in_progress", "output": [], "usage": None}
        seq = itertools.count()
        events = [
            _event(
                "response.created",
                {"type": "response.created", "sequence_number": next(seq), "response": created},
            )
        ]
        events += [
            _event(
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "sequence_number": next(seq),
                    "item_id": item["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "delta": w,
                },
            )
            for w in words
        ]
        events.append(
            _event(
                "response.completed",
                {"type": "response.completed", "sequence_number": next(seq), "response": final},
            )
        )
        return MockReply(200, "text/event-stream", events=events, usage=usage)


def _words_and_usage(body: RequestBody) -> tuple[list[str], Usage]:
    words = [w + " " for w in REPLY_TEXT.split(" ")]
    words[-1] = words[-1].rstrip()
    doc = body.doc or {}
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        limit = doc.get(key)
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            words = words[:limit]
            break
    prompt = max(1, math.ceil(len(body.raw) / 4))
    return words, Usage(input_tokens=prompt, output_tokens=len(words), cached_tokens=0)


def _openai_usage(usage: Usage) -> dict[str, Any]:
    prompt, completion = usage.input_tokens or 0, usage.output_tokens or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _anthropic_usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _vector(text: str, dims: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    raw = (seed * (dims // 32 + 1))[:dims]
    return [round(b / 127.5 - 1.0, 6) for b in raw]


def _data(doc: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(doc) + b"\n\n"


def _event(name: str, doc: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(doc) + b"\n\n"


def _error(status: int, message: str, *, param: str | None = None) -> MockReply:
    doc = {
        "error": {"message": message, "type": "invalid_request_error", "code": None, "param": param}
    }
    return MockReply(status, "application/json", orjson.dumps(doc))
