"""One send answered in process, by a provider that needs no network (the mock).

It stands where `send.Send` stands for network providers: it notes when the try
began, waits the route's `mock_latency_ms` if any, and returns the provider's
`LocalReply` for the relay to write. A route's scripted faults (`route.MockFaults`)
are played here, as a network would play them: a stall longer than the route's
`timeout_s` is a timeout, `mock_fail` answers every n-th request with its status,
`mock_cut_after_chunks` breaks a stream after that many events.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from time import perf_counter

from proxy.errors import UpstreamTimeoutError
from proxy.providers import LocalAnswers, LocalReply
from proxy.providers.mock.reply import error_reply
from proxy.providers.translation import Translation
from proxy.route import MockFaults, Route
from proxy.upstream.call import Call
from proxy.upstream.send import Outgoing

_NOTHING = Outgoing()
_MAX_COUNTS = 10_000


class LocalSend:
    def __init__(self, answers: LocalAnswers) -> None:
        self._answers = answers
        self._counts: dict[tuple[str | None, str], int] = {}  # mock_fail: requests seen

    def prepare(self, call: Call, route: Route, translation: Translation | None) -> Outgoing:
        """Nothing to make: the answer is made per try."""
        return _NOTHING

    def attempt(self, call: Call, route: Route, out: Outgoing) -> Awaitable[LocalReply]:
        return self.send(call, route)

    def send(self, call: Call, route: Route) -> Awaitable[LocalReply]:
        if route.mock_faults is not None:
            return self._faulty(call, route, route.mock_faults)
        return self._answer(call, route)

    async def _faulty(self, call: Call, route: Route, faults: MockFaults) -> LocalReply:
        call.sent_wall = time.time()
        call.sent = perf_counter()
        if faults.stall_ms:
            if faults.stall_ms / 1000 >= route.timeout_s:
                await asyncio.sleep(route.timeout_s)
                raise UpstreamTimeoutError(
                    "The upstream did not answer within the route's timeout."
                )
            await asyncio.sleep(faults.stall_ms / 1000)
        if faults.fail_status is not None:
            key = (call.record.tenant, route.name)
            if len(self._counts) >= _MAX_COUNTS and key not in self._counts:
                self._counts.clear()
            seen = self._counts[key] = self._counts.get(key, 0) + 1
            if seen % faults.fail_every_n == 0:
                return error_reply(
                    faults.fail_status, "A scripted mock fault (mock_fail).", error_type="api_error"
                )
        reply = await self._answer(call, route)
        cut = faults.cut_after_chunks
        if cut is not None and reply.events and cut < len(reply.events):
            del reply.events[cut:]
            reply.cut = True
        return reply

    async def _answer(self, call: Call, route: Route) -> LocalReply:
        call.sent_wall = time.time()
        call.sent = perf_counter()
        if route.mock_latency_ms:
            await asyncio.sleep(route.mock_latency_ms / 1000)
        return self._answers.reply(call.path, call.body, route.upstream_model or call.body.model)
