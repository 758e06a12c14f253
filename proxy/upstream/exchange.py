"""The exchange stage: fallbacks -> retries -> one send (SPEC 12).

As httpx's client sends (`send` -> `_send_handling_redirects` ->
`_send_single_request`), each step wraps the next:

    Exchange.send          the route, then its fallbacks in order
    Exchange._try_route    the tries of one route: its breaker, retries and budget
    transport              one try: `send.Send` on the network, `local.LocalSend`
                           for a provider answered in process

A route with no `retry`, `breaker` or `fallbacks` whose request needs no format
translation takes the plain path: `send` hands back the transport's one send, so
the layers cost no coroutine of their own (the hot path). Anything else goes through
`_resilient`: each route's request is made once (translated when its provider
speaks the other format: `providers.translation`), then tried as its `retry` block
says, the same bytes every time. Nothing has reached the client while the exchange
runs, so it may repeat a try, or answer from another route, until it returns.

A fallback whose format cannot express the request (SPEC 13's refusals) is skipped;
the first route's refusal goes to the client. What is retried, or sends a request on
to the next route: a refused or reset
connection, a timeout before the answer's headers, or a status in `on_status`
(SPEC 12's default list when the route has no `retry`). A `Retry-After` longer than
`max_wait_s` passes the answer through at once; so does a spent retry budget.

Exceptions kept for later are stored without their traceback and never left in a
local when raised: a frame that holds the exception its traceback holds is a
reference cycle, and requests must be freed by refcounting alone.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from proxy.backoff import Backoff
from proxy.errors import (
    InvalidRequestError,
    ProxyError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    UpstreamUnreachableError,
)
from proxy.providers import LocalReply, Provider
from proxy.providers.translation import (
    CHAT_COMPLETIONS,
    MESSAGES,
    Translation,
    translation_for,
)
from proxy.route import RetryPolicy, Route
from proxy.upstream.breaker import Breakers
from proxy.upstream.call import Call
from proxy.upstream.local import LocalSend
from proxy.upstream.retry_budget import RetryBudget
from proxy.upstream.send import Outgoing
from proxy.upstream.wire import UpstreamResponse

Answer = UpstreamResponse | LocalReply
# Failures that are retried, and that send a request on to a fallback.
RETRYABLE_ERRORS = (UpstreamUnreachableError, UpstreamTimeoutError)
BACKOFF_CAP_S = 2.0
_ONE_TRY = RetryPolicy(attempts=1)  # a route without `retry`: its statuses still fall back
Sleep = Callable[[float], Awaitable[None]]


class Transport(Protocol):
    def send(self, call: Call, route: Route) -> Awaitable[Answer]:
        """One try of `call` on `route`, its request made on the way (the plain path)."""

    def prepare(self, call: Call, route: Route, translation: Translation | None) -> Outgoing:
        """`route`'s request for `call`, made once before its tries."""

    def attempt(self, call: Call, route: Route, out: Outgoing) -> Awaitable[Answer]:
        """One try of a prepared request."""


class Exchange:
    def __init__(
        self,
        send: Transport,
        providers: Mapping[str, Provider],
        *,
        breakers: Breakers | None = None,
        budget: RetryBudget | None = None,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        """`send` carries network providers' tries; in-process providers get their own.
        `breakers` and `budget` are the worker's; `sleep` and `jitter` wait between tries."""
        self._transports: dict[str, Transport] = {
            name: send if entry.local is None else LocalSend(entry.local())
            for name, entry in providers.items()
        }
        # Per provider: its transport and the client paths it serves translated, so
        # the plain path's check is one lookup and one set membership.
        self._plain: dict[str, tuple[Transport, frozenset[str]]] = {
            name: (transport, _translated_paths(name))
            for name, transport in self._transports.items()
        }
        self._breakers = breakers if breakers is not None else Breakers()
        self._budget = budget if budget is not None else RetryBudget()
        self._sleep = sleep
        self._jitter = jitter

    def send(self, call: Call, route: Route) -> Awaitable[Answer]:
        """The answer to `call`, from `route` (the edge's choice) or from the fallback
        that answered (which becomes `call.route`)."""
        transport, translated = self._plain[route.provider]
        if route.is_resilient or call.path in translated:
            return self._resilient(call, route)
        call.record.attempts = 1
        return transport.send(call, route)

    async def _resilient(self, call: Call, first: Route) -> Answer:
        held: Answer | None = None  # the last failed answer: passed through if all fail
        held_by: tuple[Route, Translation | None] | None = None
        failure: list[ProxyError] = []  # the last failure that was no answer
        unavailable: list[UpstreamUnavailableError] = []  # routes whose breaker was open
        try:
            for route in (first, *first.fallbacks):
                translation = translation_for(call.path, route.provider)
                try:
                    answer, failed = await self._try_route(call, route, translation)
                except UpstreamUnavailableError as e:
                    e.__traceback__ = None
                    unavailable.append(e)
                    continue
                except InvalidRequestError:
                    if route is first:
                        raise
                    continue  # a fallback that cannot express the request is not sent it
                except RETRYABLE_ERRORS as e:
                    e.__traceback__ = None
                    failure[:] = [e]
                    _discard(held)
                    held = None
                    continue
                _discard(held)
                held = None
                if not failed:
                    _answered(call, first, route, translation)
                    return answer
                held, held_by = answer, (route, translation)
                failure.clear()
            if held is not None and held_by is not None:
                _answered(call, first, *held_by)
                answer, held = held, None
                return answer
            if failure:
                raise failure.pop()
            retry_after = min(e.retry_after or 1.0 for e in unavailable)
            unavailable.clear()
            raise UpstreamUnavailableError(
                "The upstream is unavailable: its circuit breaker is open.",
                retry_after=retry_after,
            )
        finally:
            _discard(held)  # set only when something went wrong before it was handed on

    async def _try_route(
        self, call: Call, route: Route, translation: Translation | None
    ) -> tuple[Answer, bool]:
        """The last answer of `route`'s tries and whether it failed retryably; raises
        the last transport failure, or 503 when the route's breaker is open."""
        transport = self._transports[route.provider]
        out = transport.prepare(call, route, translation)
        tenant, name = call.record.tenant, route.name
        breaker = None
        if route.breaker is not None:
            breaker = self._breakers.get(tenant, name, route.breaker)
            if not breaker.allow():
                raise UpstreamUnavailableError(
                    "The upstream is unavailable: its circuit breaker is open.",
                    retry_after=breaker.retry_after(),
                )
        policy = route.retry or _ONE_TRY
        if route.retry is not None:
            self._budget.first_try(tenant, name)
        last: Answer | None = None
        failure: list[ProxyError] = []
        judged = breaker is None
        try:
            for n in range(policy.attempts):
                if n:
                    wait = self._wait(policy, n - 1, last)
                    if (
                        wait is None
                        or (breaker is not None and breaker.is_open)
                        or not self._budget.spend(tenant, name)
                    ):
                        break
                    _discard(last)
                    last = None
                    if wait:
                        await self._sleep(wait)
                call.record.attempts += 1
                try:
                    answer = await transport.attempt(call, route, out)
                except RETRYABLE_ERRORS as e:
                    e.__traceback__ = None
                    failure[:] = [e]
                    if breaker is not None:
                        breaker.failure()
                        judged = True
                    continue
                failure.clear()
                last = answer
                status = answer.status
                if breaker is not None:
                    if status >= 500:
                        breaker.failure()
                    else:
                        breaker.success()
                    judged = True
                if status not in policy.on_status:
                    last = None
                    return answer, False
            if failure:
                raise failure.pop()
            assert last is not None
            answer, last = last, None
            return answer, True
        finally:
            _discard(last)
            if not judged and breaker is not None:
                breaker.abandon()

    def _wait(self, policy: RetryPolicy, retry: int, last: Answer | None) -> float | None:
        """Seconds to wait before retry `retry` (0 for the first); None: pass the
        failure through (the upstream asked for a longer wait than `max_wait_s`)."""
        asked = _retry_after(last)
        if asked is not None:
            return asked if asked <= policy.max_wait_s else None
        if policy.backoff_ms <= 0:
            return 0.0
        return Backoff(policy.backoff_ms / 1000, BACKOFF_CAP_S, self._jitter).delay(retry)


def _translated_paths(provider: str) -> frozenset[str]:
    """The client paths whose requests `provider` serves in the other format."""
    return frozenset(p for p in (CHAT_COMPLETIONS, MESSAGES) if translation_for(p, provider))


def _answered(call: Call, first: Route, route: Route, translation: Translation | None) -> None:
    """`route` answers: the relay translates as it says, the record names it."""
    call.route = route
    call.translation = translation
    if route is not first:
        record = call.record
        record.route = route.name
        record.fallback_from = first.name
        record.provider = route.provider
        record.upstream_model = route.upstream_model or record.model


def _retry_after(answer: Answer | None) -> float | None:
    """An upstream answer's `Retry-After` in seconds (the delta-seconds form)."""
    if not isinstance(answer, UpstreamResponse):
        return None
    value = answer.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _discard(answer: Answer | None) -> None:
    """Drop an answer that will not be relayed (and its connection)."""
    if isinstance(answer, UpstreamResponse):
        answer.close()
