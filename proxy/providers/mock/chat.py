"""The mock's OpenAI Chat Completions answers: a `chat.completion`, or its chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from proxy.body import RequestBody
from proxy.providers.mock.reply import Clock, words_and_usage
from proxy.providers.openai import chat_usage
from proxy.providers.provider import LocalReply
from proxy.providers.sse import DONE_EVENT, data_event
from proxy.streaming.usage import Usage


def answer(body: RequestBody, model: str, ids: Iterator[int], clock: Clock) -> LocalReply:
    words, usage = words_and_usage(body)
    head = {"id": f"chatcmpl-mock{next(ids)}", "created": int(clock()), "model": model}
    if not body.stream:
        return _completion(head, "".join(words), usage)
    return _chunks(head, words, usage, with_usage=body.asks_usage)


def _completion(head: dict[str, Any], text: str, usage: Usage) -> LocalReply:
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
        "usage": chat_usage(usage),
        "system_fingerprint": None,
    }
    return LocalReply(200, "application/json", orjson.dumps(doc), usage=usage)


def _chunks(
    head: dict[str, Any], words: list[str], usage: Usage, *, with_usage: bool
) -> LocalReply:
    chunk = {**head, "object": "chat.completion.chunk", "system_fingerprint": None}
    if with_usage:
        chunk["usage"] = None  # as OpenAI writes every chunk of a stream with usage
    deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant", "content": ""}, None)]
    deltas += [({"content": w}, None) for w in words]
    deltas.append(({}, "stop"))
    events = [
        data_event(
            {**chunk, "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": f}]}
        )
        for d, f in deltas
    ]
    if with_usage:
        events.append(data_event({**chunk, "choices": [], "usage": chat_usage(usage)}))
    events.append(DONE_EVENT)
    return LocalReply(200, "text/event-stream", events=events, usage=usage)
