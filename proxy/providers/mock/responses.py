"""The mock's OpenAI Responses API answers: a `response`, or its event stream."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import orjson

from proxy.body import RequestBody
from proxy.providers.mock.reply import Clock, words_and_usage
from proxy.providers.openai import responses_usage
from proxy.providers.provider import LocalReply
from proxy.providers.sse import named_event


def answer(body: RequestBody, model: str, ids: Iterator[int], clock: Clock) -> LocalReply:
    words, usage = words_and_usage(body)
    rid, now = next(ids), int(clock())
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
        "usage": responses_usage(usage),
    }
    if not body.stream:
        return LocalReply(200, "application/json", orjson.dumps(final), usage=usage)
    return LocalReply(200, "text/event-stream", events=_events(final, item, words), usage=usage)


def _events(final: dict[str, Any], item: dict[str, Any], words: list[str]) -> list[bytes]:
    created = {**final, "status": "in_progress", "output": [], "usage": None}
    seq = itertools.count()
    events = [
        named_event(
            "response.created",
            {"type": "response.created", "sequence_number": next(seq), "response": created},
        )
    ]
    events += [
        named_event(
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
        named_event(
            "response.completed",
            {"type": "response.completed", "sequence_number": next(seq), "response": final},
        )
    )
    return events
