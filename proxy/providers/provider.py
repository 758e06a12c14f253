"""Provider: what the request path needs to know about one provider.

Shared code (headers, the exchange, the relay, config parsing) never asks which
provider it serves; it reads the route's entry in `proxy.providers.PROVIDERS`.
Usage needs no entry: `streaming.usage` reads every provider's usage shape with
one parser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from proxy.body import RequestBody
from proxy.errors import ProxyError
from proxy.streaming.usage import Usage


@dataclass(slots=True)
class LocalReply:
    """An answer made in process: a JSON body, or SSE events (one item per event)."""

    status: int
    content_type: str
    body: bytes = b""
    events: list[bytes] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cut: bool = False  # the stream broke after its events (a scripted mock fault)


class LocalAnswers(Protocol):
    """A provider that answers in process, without a network (one per worker)."""

    def reply(self, path: str, body: RequestBody, model: str | None) -> LocalReply:
        """The answer to a request for `path`; `model` is what the route sends upstream."""


@dataclass(frozen=True, slots=True)
class Provider:
    """One entry of the provider table.

    `key_header`/`key_prefix`: where the route's key goes (`Authorization: Bearer
    <key>`, `x-api-key: <key>`). `default_headers`: sent when the client sent none
    of that name (lower-case names). `stream_usage_paths`: streams on these paths get
    `stream_options.include_usage` so their usage is known. `sse_error`: the last
    event of a stream that broke after it started. `default_api_base`: None when a
    route must name its `api_base`. `local`: makes the worker's in-process answerer,
    for a provider that needs no network.
    """

    name: str
    key_header: str
    key_prefix: str
    sse_error: Callable[[ProxyError], bytes]
    default_headers: tuple[tuple[str, str], ...] = ()
    stream_usage_paths: frozenset[str] = frozenset()
    default_api_base: str | None = None
    local: Callable[[], LocalAnswers] | None = None
