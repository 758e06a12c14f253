"""The mock's OpenAI (legacy) Completions answers: a `text_completion`, or its chunks."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from proxy.body import RequestBody
from proxy.providers.mock.reply import Clock, words_and_usage
from proxy.providers.openai import chat_usage
from proxy.providers.provider import LocalReply
from proxy.providers.sse import DONE_EVENT, data_event


def answer(body: RequestBody, model: str, ids: Iterator[int], clock: Clock) -> LocalReply:
    words, usage = words_and_usage(body)
    head = {
        "id": f"cmpl-mock{next(ids)}",
        "object": "text_completion",
        "created": int(clock()),
        "model": model,
    }
    if not body.stream:
        choice = {"text": "".join(words), "index": 0, "logprobs": None, "finish_reason": "stop"}
        doc = {**head, "choices": [choice], "usage": chat_usage(usage)}
        return LocalReply(200, "application/json", orjson.dumps(doc), usage=usage)
    events = [
        data_event(
            {**head, "choices": [{"text": w, "index": 0, "logprobs": None, "finish_reason": None}]}
        )
        for w in words
    ]
    last = {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
    events.append(data_event({**head, "choices": [last]}))
    if body.asks_usage:
        events.append(data_event({**head, "choices": [], "usage": chat_usage(usage)}))
    events.append(DONE_EVENT)
    return LocalReply(200, "text/event-stream", events=events, usage=usage)
