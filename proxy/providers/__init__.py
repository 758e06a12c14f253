"""The provider table: one entry per provider a route may name.

    PROVIDERS = {"openai": OPENAI, "anthropic": ANTHROPIC, "mock": MOCK}

Everything that differs between providers is an entry's field (see `Provider`):
how the key is sent, default headers, which streams need `stream_options`, the
error event of a broken stream, whether a route needs an `api_base`, whether it is
answered in process. Shared code reads the entry and never compares provider names,
so a new provider, or a format translation, is a new entry (uvicorn's
`HTTP_PROTOCOLS` table is the model). `providers.translation` holds the translation
between the providers' formats (OpenAI Chat Completions <-> Anthropic Messages) as
pure code, for such entries to use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from proxy.errors import ProxyError
from proxy.providers.anthropic import ANTHROPIC
from proxy.providers.mock import MOCK
from proxy.providers.openai import OPENAI
from proxy.providers.provider import LocalAnswers, LocalReply, Provider

__all__ = [
    "DEFAULT_PROVIDER",
    "PROVIDERS",
    "LocalAnswers",
    "LocalReply",
    "Provider",
    "client_sse_error",
]

PROVIDERS: Mapping[str, Provider] = {entry.name: entry for entry in (OPENAI, ANTHROPIC, MOCK)}
DEFAULT_PROVIDER = OPENAI.name  # a route that names no provider
# The client's format is its path's: Anthropic Messages clients use /v1/messages,
# whichever provider serves them (passed through, translated or mocked); others OpenAI's.
_CLIENT_FORMATS: Mapping[str, Provider] = {"/v1/messages": ANTHROPIC}


def client_sse_error(path: str) -> Callable[[ProxyError], bytes]:
    """The final event of a broken stream in the format of a client on `path`."""
    return _CLIENT_FORMATS.get(path, OPENAI).sse_error
