"""The `mock` provider: OpenAI- and Anthropic-shaped answers made in process.

For the quickstart, demos and benchmarks of the proxy alone: no network, no key.
Answers carry realistic usage (prompt = request bytes / 4, completion = words
sent) so accounting works end to end. One module per API it serves; the bench's
HTTP mock upstream serves the same bodies.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping

from proxy.body import RequestBody
from proxy.providers import openai
from proxy.providers.mock import chat, completions, embeddings, messages, responses
from proxy.providers.mock.reply import Clock, error_reply
from proxy.providers.provider import LocalReply, Provider

MockAnswer = Callable[[RequestBody, str, Iterator[int], Clock], LocalReply]

ANSWERS: Mapping[str, MockAnswer] = {
    "/v1/chat/completions": chat.answer,
    "/v1/completions": completions.answer,
    "/v1/embeddings": embeddings.answer,
    "/v1/messages": messages.answer,
    "/v1/responses": responses.answer,
}


class MockProvider:
    """The worker's mock: numbers its answers (`chatcmpl-mock1`, ...) and dates them."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._ids = itertools.count(1)
        self._clock = clock

    def reply(self, path: str, body: RequestBody, model: str | None) -> LocalReply:
        answer = ANSWERS.get(path)
        if answer is None:
            return error_reply(404, f"The mock provider does not serve {path}.")
        return answer(body, model or "mock", self._ids, self._clock)


MOCK = Provider(
    name="mock",
    key_header="Authorization",  # never sent: the mock is answered in process
    key_prefix="Bearer ",
    sse_error=openai.sse_error,
    default_api_base="mock://",
    local=MockProvider,
)
