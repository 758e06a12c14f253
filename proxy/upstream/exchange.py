"""The exchange stage: fallbacks -> retries -> one send.

As httpx's client sends (`send` -> `_send_handling_redirects` ->
`_send_single_request`), each step wraps the next, and each is a plain call that
hands back the awaitable of the step below, so a step costs no coroutine of its
own until it has something to await:

    Exchange.send          the route, then its fallbacks (none yet: SPEC 12)
    Exchange._try_route    the tries of one route; a breaker's check goes here
    transport.send         one try: `send.Send` on the network, `local.LocalSend`
                           for a provider answered in process

Today a route gets exactly one try and has no fallbacks, which is what SPEC 12
asks of a route without `retry`, `breaker` or `fallbacks`. Nothing has reached the
client while the exchange runs, so it may repeat a try, or answer from another
route, until it returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Protocol

import aiohttp

from proxy.providers import LocalReply, Provider
from proxy.route import Route
from proxy.upstream.call import Call
from proxy.upstream.local import LocalSend

Answer = aiohttp.ClientResponse | LocalReply


class Transport(Protocol):
    def send(self, call: Call, route: Route) -> Awaitable[Answer]:
        """One try of `call` on `route`."""


class Exchange:
    def __init__(self, send: Transport, providers: Mapping[str, Provider]) -> None:
        """`send` carries network providers' tries; in-process providers get their own."""
        self._transports: dict[str, Transport] = {
            name: send if entry.local is None else LocalSend(entry.local())
            for name, entry in providers.items()
        }

    def send(self, call: Call, route: Route) -> Awaitable[Answer]:
        """The answer to `call`, from `route` (the edge's choice) or, once routes have
        fallbacks, from the fallback that answered (which becomes `call.route`)."""
        return self._try_route(call, route)

    def _try_route(self, call: Call, route: Route) -> Awaitable[Answer]:
        """The tries of one route: one today."""
        return self._transports[route.provider].send(call, route)
