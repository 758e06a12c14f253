"""One send answered in process, by a provider that needs no network (the mock).

It stands where `send.Send` stands for network providers: it notes when the try
began, waits the route's `mock_latency_ms` if any, and returns the provider's
`LocalReply` for the relay to write.
"""

from __future__ import annotations

import asyncio
import time
from time import perf_counter

from proxy.providers import LocalAnswers, LocalReply
from proxy.route import Route
from proxy.upstream.call import Call


class LocalSend:
    def __init__(self, answers: LocalAnswers) -> None:
        self._answers = answers

    async def send(self, call: Call, route: Route) -> LocalReply:
        call.sent_wall = time.time()
        call.sent = perf_counter()
        if route.mock_latency_ms:
            await asyncio.sleep(route.mock_latency_ms / 1000)
        return self._answers.reply(call.path, call.body, route.upstream_model or call.body.model)
