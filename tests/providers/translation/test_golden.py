"""Every golden payload translates into exactly what the client of the other format expects."""

from __future__ import annotations

import orjson
import pytest

from proxy.providers.translation import (
    AnthropicToOpenAIStream,
    OpenAIToAnthropicStream,
    anthropic_error_to_openai,
    anthropic_message_to_openai_completion,
    anthropic_messages_to_openai_chat,
    openai_chat_to_anthropic,
    openai_completion_to_anthropic_message,
    openai_error_to_anthropic,
)
from proxy.streaming.usage import Usage
from tests.providers.translation.golden import chunked, doc, raw, sse_events


def test_multi_turn_tool_conversation_from_openai_client_to_anthropic():
    translated = openai_chat_to_anthropic(
        doc("requests/openai_chat_tools.json"), max_tokens_default=4096
    )
    assert translated == doc("requests/openai_chat_tools.to_anthropic.json")


def test_multi_turn_tool_conversation_from_anthropic_client_to_openai():
    translated = anthropic_messages_to_openai_chat(doc("requests/anthropic_messages_tools.json"))
    assert translated == doc("requests/anthropic_messages_tools.to_openai.json")


@pytest.mark.parametrize("name", ["anthropic_message_tool_use", "anthropic_message_text"])
def test_anthropic_answers_reach_openai_clients_as_chat_completions(name):
    body = anthropic_message_to_openai_completion(
        raw(f"responses/{name}.json"), model="claude-sonnet", created=1727472000
    )
    assert orjson.loads(body) == doc(f"responses/{name}.to_openai.json")


@pytest.mark.parametrize("name", ["openai_completion_tool_calls", "openai_completion_text"])
def test_openai_answers_reach_anthropic_clients_as_messages(name):
    body = openai_completion_to_anthropic_message(raw(f"responses/{name}.json"), model="gpt-4o")
    assert orjson.loads(body) == doc(f"responses/{name}.to_anthropic.json")


@pytest.mark.parametrize("size", [1, 7, 100, 1 << 20])
@pytest.mark.parametrize(
    ("name", "include_usage", "usage"),
    [
        ("anthropic_tool_use", True, Usage(1496, 89, 1024)),
        ("anthropic_text", False, Usage(25, 15, 0)),
    ],
)
def test_anthropic_stream_reaches_openai_clients_whatever_the_chunking(
    name, include_usage, usage, size
):
    stream = AnthropicToOpenAIStream(
        model="claude-sonnet", include_usage=include_usage, created=1727472000
    )
    out = b"".join(stream.feed(c) for c in chunked(raw(f"streams/{name}.sse"), size))
    out += stream.finish()
    assert sse_events(out) == sse_events(raw(f"streams/{name}.to_openai.sse"))
    assert stream.complete and not stream.failed
    assert stream.usage == usage


@pytest.mark.parametrize("size", [1, 7, 100, 1 << 20])
@pytest.mark.parametrize(
    ("name", "usage"),
    [("openai_tool_calls", Usage(1200, 41, 1024)), ("openai_text", Usage(9, 12, 0))],
)
def test_openai_stream_reaches_anthropic_clients_whatever_the_chunking(name, usage, size):
    stream = OpenAIToAnthropicStream(model="gpt-4o")
    out = b"".join(stream.feed(c) for c in chunked(raw(f"streams/{name}.sse"), size))
    out += stream.finish()
    assert sse_events(out) == sse_events(raw(f"streams/{name}.to_anthropic.sse"))
    assert stream.complete and not stream.failed
    assert stream.usage == usage


@pytest.mark.parametrize(
    ("name", "status"), [("anthropic_overloaded", 529), ("anthropic_invalid_request", 400)]
)
def test_anthropic_errors_reach_openai_clients_in_openai_shape(name, status):
    body = anthropic_error_to_openai(status, raw(f"errors/{name}.json"))
    assert orjson.loads(body) == doc(f"errors/{name}.to_openai.json")


def test_openai_errors_reach_anthropic_clients_in_anthropic_shape():
    body = openai_error_to_anthropic(429, raw("errors/openai_rate_limit.json"))
    assert orjson.loads(body) == doc("errors/openai_rate_limit.to_anthropic.json")
