"""OpenAI Chat Completions <-> Anthropic Messages translation (SPEC 13), as pure code.

Everything here takes and returns dicts and bytes: no requests, sessions or config.
`translation_for(path, provider)` picks the translators for a (client path, provider)
pair; the field tables live in the docstrings of `request_to_anthropic`,
`request_to_openai`, `responses`, `stream_to_openai` and `stream_to_anthropic`.
"""

from proxy.providers.translation.error_bodies import (
    anthropic_error_to_openai,
    openai_error_to_anthropic,
)
from proxy.providers.translation.pairs import (
    CHAT_COMPLETIONS,
    MESSAGES,
    StreamTranslator,
    Translation,
    translation_for,
    wants_usage_chunk,
)
from proxy.providers.translation.request_to_anthropic import openai_chat_to_anthropic
from proxy.providers.translation.request_to_openai import anthropic_messages_to_openai_chat
from proxy.providers.translation.responses import (
    anthropic_message_to_openai_completion,
    openai_completion_to_anthropic_message,
)
from proxy.providers.translation.stream_to_anthropic import OpenAIToAnthropicStream
from proxy.providers.translation.stream_to_openai import AnthropicToOpenAIStream

__all__ = [
    "CHAT_COMPLETIONS",
    "MESSAGES",
    "AnthropicToOpenAIStream",
    "OpenAIToAnthropicStream",
    "StreamTranslator",
    "Translation",
    "anthropic_error_to_openai",
    "anthropic_message_to_openai_completion",
    "anthropic_messages_to_openai_chat",
    "openai_chat_to_anthropic",
    "openai_completion_to_anthropic_message",
    "openai_error_to_anthropic",
    "translation_for",
    "wants_usage_chunk",
]
