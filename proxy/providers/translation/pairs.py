"""Which client format meets which provider format, and the translators for each pair.

`translation_for(path, provider)` is None for same-format pairs and other endpoints
(they pass through untouched, SPEC 13); otherwise it names everything the request
path needs: the upstream path, the request, answer, stream and error translators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from proxy.errors import ProxyError
from proxy.providers.translation.error_bodies import (
    anthropic_error_to_openai,
    openai_error_to_anthropic,
)
from proxy.providers.translation.request_to_anthropic import openai_chat_to_anthropic
from proxy.providers.translation.request_to_openai import anthropic_messages_to_openai_chat
from proxy.providers.translation.responses import (
    anthropic_message_to_openai_completion,
    openai_completion_to_anthropic_message,
)
from proxy.providers.translation.stream_to_anthropic import OpenAIToAnthropicStream
from proxy.providers.translation.stream_to_openai import AnthropicToOpenAIStream
from proxy.streaming.usage import Usage

CHAT_COMPLETIONS = "/v1/chat/completions"
MESSAGES = "/v1/messages"


class StreamTranslator(Protocol):
    """One translated stream: bytes in as they arrive, bytes out to write at once."""

    complete: bool  # the upstream ended the answer properly (its end was written)
    failed: bool  # the upstream sent an error event (written; nothing follows)

    @property
    def usage(self) -> Usage: ...

    def feed(self, chunk: bytes) -> bytes: ...

    def finish(self) -> bytes: ...

    def error_event(self, error: ProxyError) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Translation:
    upstream_path: str
    request: Callable[[dict[str, Any], int], dict[str, Any]]  # (client body, max_tokens_default)
    answer: Callable[[bytes, str], bytes]  # (upstream JSON body, client's model)
    stream: Callable[[dict[str, Any], str], StreamTranslator]  # (client body, client's model)
    error: Callable[[int, bytes], bytes]  # (upstream status, upstream error body)


def _to_anthropic(doc: dict[str, Any], max_tokens_default: int) -> dict[str, Any]:
    return openai_chat_to_anthropic(doc, max_tokens_default=max_tokens_default)


def _to_openai(doc: dict[str, Any], max_tokens_default: int) -> dict[str, Any]:
    return anthropic_messages_to_openai_chat(doc)


def _completion(body: bytes, model: str) -> bytes:
    return anthropic_message_to_openai_completion(body, model=model)


def _message(body: bytes, model: str) -> bytes:
    return openai_completion_to_anthropic_message(body, model=model)


def _chunks(doc: dict[str, Any], model: str) -> StreamTranslator:
    return AnthropicToOpenAIStream(model=model, include_usage=wants_usage_chunk(doc))


def _events(doc: dict[str, Any], model: str) -> StreamTranslator:
    return OpenAIToAnthropicStream(model=model)


def wants_usage_chunk(doc: dict[str, Any]) -> bool:
    """Whether an OpenAI client asked for the usage chunk (`stream_options.include_usage`)."""
    options = doc.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


_PAIRS = {
    (CHAT_COMPLETIONS, "anthropic"): Translation(
        MESSAGES, _to_anthropic, _completion, _chunks, anthropic_error_to_openai
    ),
    (MESSAGES, "openai"): Translation(
        CHAT_COMPLETIONS, _to_openai, _message, _events, openai_error_to_anthropic
    ),
}


def translation_for(path: str, provider: str) -> Translation | None:
    """The translation a request on `path` (`/v1/...`) needs for `provider`, if any."""
    return _PAIRS.get((path, provider))
