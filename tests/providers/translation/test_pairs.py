"""Which (client path, provider) pairs translate, and with what."""

from __future__ import annotations

import orjson

from proxy.providers import PROVIDERS
from proxy.providers.translation.pairs import (
    CHAT_COMPLETIONS,
    MESSAGES,
    translation_for,
    wants_usage_chunk,
)
from proxy.providers.translation.stream_to_anthropic import OpenAIToAnthropicStream
from proxy.providers.translation.stream_to_openai import AnthropicToOpenAIStream


def test_only_cross_format_pairs_translate():
    assert translation_for(CHAT_COMPLETIONS, "anthropic").upstream_path == MESSAGES
    assert translation_for(MESSAGES, "openai").upstream_path == CHAT_COMPLETIONS
    assert translation_for(CHAT_COMPLETIONS, "openai") is None
    assert translation_for(MESSAGES, "anthropic") is None
    assert translation_for("/v1/embeddings", "anthropic") is None


PATHS = [
    CHAT_COMPLETIONS,
    MESSAGES,
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/models",
    "/v1/messages/count_tokens",
]


def test_of_every_path_and_provider_only_the_two_cross_format_pairs_translate():
    translating = {
        (path, provider)
        for path in PATHS
        for provider in PROVIDERS
        if translation_for(path, provider) is not None
    }
    assert translating == {(CHAT_COMPLETIONS, "anthropic"), (MESSAGES, "openai")}


def test_chat_completions_on_anthropic_translates_every_part_towards_anthropic():
    pair = translation_for(CHAT_COMPLETIONS, "anthropic")
    assert pair is not None
    request = pair.request({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, 321)
    assert request["max_tokens"] == 321  # the route's default reaches the translator
    answer = orjson.loads(
        pair.answer(b'{"id": "a", "content": [], "stop_reason": "max_tokens"}', "client-m")
    )
    assert answer["model"] == "client-m" and answer["choices"][0]["finish_reason"] == "length"
    assert isinstance(pair.stream({}, "m"), AnthropicToOpenAIStream)
    assert "error" in orjson.loads(pair.error(529, b"{}"))  # OpenAI's error shape


def test_messages_on_openai_translates_every_part_towards_openai():
    pair = translation_for(MESSAGES, "openai")
    assert pair is not None
    request = pair.request({"model": "m", "max_tokens": 5, "messages": []}, 321)
    assert request["max_completion_tokens"] == 5
    answer = orjson.loads(pair.answer(b'{"id": "c", "choices": []}', "client-m"))
    assert answer["type"] == "message" and answer["model"] == "client-m"
    assert isinstance(pair.stream({}, "m"), OpenAIToAnthropicStream)
    assert orjson.loads(pair.error(429, b"{}"))["type"] == "error"  # Anthropic's error shape


def test_the_usage_chunk_is_asked_for_only_by_include_usage_true():
    stream = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    pair = translation_for(CHAT_COMPLETIONS, "anthropic")
    assert pair is not None
    for options, asked in (
        ({"include_usage": True}, True),
        ({"include_usage": "true"}, False),
        ({}, False),
        (None, False),
        ([], False),
    ):
        assert wants_usage_chunk({"stream_options": options}) is asked
        assert (b'"usage"' in pair.stream({"stream_options": options}, "m").feed(stream)) is asked
