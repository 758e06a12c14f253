"""Whole JSON answers: an Anthropic `message` as a `chat.completion`, and back.

The model in a translated answer is the one the client named. Text blocks join into
`message.content`; `tool_use` blocks are `tool_calls` with JSON-text arguments (and
back: arguments that are not a JSON object become an empty input). Thinking and
server-tool blocks have no Chat Completions form and are left out.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from proxy.providers.translation.content import json_text_of_input
from proxy.providers.translation.vocabulary import (
    anthropic_usage,
    finish_reason,
    openai_usage,
    stop_reason,
    usage_of_anthropic,
)


def anthropic_message_to_openai_completion(
    body: bytes, *, model: str, created: int | None = None
) -> bytes:
    """A `chat.completion` body for an Anthropic `message` body."""
    doc = orjson.loads(body)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in doc.get("content") or ():
        if block.get("type") == "text":
            texts.append(block.get("text") or "")
        elif block.get("type") == "tool_use":
            function = {
                "name": block.get("name"),
                "arguments": json_text_of_input(block.get("input")),
            }
            calls.append({"id": block.get("id"), "type": "function", "function": function})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    if doc.get("stop_reason") == "refusal":
        message["refusal"] = message["content"] or ""
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason(doc.get("stop_reason")),
    }
    completion = {
        "id": doc.get("id"),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [choice],
        "usage": openai_usage(usage_of_anthropic(doc.get("usage") or {})),
    }
    return orjson.dumps(completion)


def openai_completion_to_anthropic_message(body: bytes, *, model: str) -> bytes:
    """An Anthropic `message` body for a `chat.completion` body (its first choice)."""
    doc = orjson.loads(body)
    choices = doc.get("choices") or [{}]
    message = choices[0].get("message") or {}
    content: list[dict[str, Any]] = []
    text = message.get("content") or message.get("refusal")
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        tool_input = _input_of(function.get("arguments"))
        block = {"type": "tool_use", "id": call.get("id"), "name": function.get("name")}
        content.append({**block, "input": tool_input})
    answer = {
        "id": doc.get("id"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choices[0].get("finish_reason")),
        "stop_sequence": None,
        "usage": anthropic_usage(doc.get("usage") or {}),
    }
    return orjson.dumps(answer)


def _input_of(arguments: object) -> dict[str, Any]:
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
