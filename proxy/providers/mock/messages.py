"""The mock's Anthropic Messages answers: a `message`, or its event stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from proxy.body import RequestBody
from proxy.providers.anthropic import message_usage
from proxy.providers.mock.reply import Clock, words_and_usage
from proxy.providers.provider import LocalReply
from proxy.providers.sse import named_event
from proxy.streaming.usage import Usage


def answer(body: RequestBody, model: str, ids: Iterator[int], clock: Clock) -> LocalReply:
    words, usage = words_and_usage(body)
    assert usage.input_tokens is not None and usage.output_tokens is not None
    message = {"id": f"msg_mock{next(ids)}", "type": "message", "role": "assistant", "model": model}
    if not body.stream:
        doc = {
            **message,
            "content": [{"type": "text", "text": "".join(words)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": message_usage(usage.input_tokens, usage.output_tokens),
        }
        return LocalReply(200, "application/json", orjson.dumps(doc), usage=usage)
    return LocalReply(200, "text/event-stream", events=_events(message, words, usage), usage=usage)


def _events(message: dict[str, Any], words: list[str], usage: Usage) -> list[bytes]:
    assert usage.input_tokens is not None
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": message_usage(usage.input_tokens, 1),
    }
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    events = [
        named_event("message_start", {"type": "message_start", "message": start}),
        named_event("content_block_start", block),
    ]
    events += [
        named_event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
        )
        for w in words
    ]
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": usage.output_tokens},
    }
    events += [
        named_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        named_event("message_delta", delta),
        named_event("message_stop", {"type": "message_stop"}),
    ]
    return events
