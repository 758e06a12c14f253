"""The exchange: each route's provider decides how a try is made (network or in
process); retries, breakers and the retry budget per tenant and route (SPEC 12)."""

from __future__ import annotations

from aiohttp import web

from proxy.errors import ProxyError
from proxy.providers import PROVIDERS, LocalReply
from proxy.route import BreakerPolicy, RetryPolicy, Route
from proxy.upstream.breaker import Breakers
from proxy.upstream.exchange import Exchange
from proxy.upstream.retry_budget import RetryBudget
from proxy.upstream.send import Send
from proxy.upstream.wire import UpstreamResponse
from tests.helpers import make_call, upstream_session


async def test_network_routes_are_sent_and_in_process_routes_answered_locally(upstream):
    async with upstream_session() as session:
        exchange = Exchange(Send(session, connect_timeout=5), PROVIDERS)
        network = Route(provider="openai", api_base=upstream.url, api_key="sk-route-key-0001")
        answer = await exchange.send(make_call(), network)
        assert isinstance(answer, UpstreamResponse) and answer.status == 200
        answer.release()
        local = await exchange.send(make_call(), Route(provider="mock", api_base="mock:"))
    assert isinstance(local, LocalReply) and local.status == 200
    assert len(upstream.seen) == 1  # one try, and none for the mock


async def test_each_exchange_has_its_own_in_process_answerer():
    route = Route(provider="mock", api_base="mock:")
    async with upstream_session() as session:
        first = Exchange(Send(session, connect_timeout=5), PROVIDERS)
        second = Exchange(Send(session, connect_timeout=5), PROVIDERS)
        a = await first.send(make_call(), route)
        b = await second.send(make_call(), route)
    assert isinstance(a, LocalReply) and isinstance(b, LocalReply)
    assert b'"chatcmpl-mock1"' in a.body and b'"chatcmpl-mock1"' in b.body


# SPEC 12 on the exchange itself: clocks, waits and tenants are the test's.


class Waits:
    """An injected sleep that records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _tenant_call(tenant: str):
    call = make_call()
    call.record.tenant = tenant
    return call


async def test_one_tenants_failing_route_opens_only_its_own_breaker(upstream):
    async def by_key(request: web.Request) -> web.StreamResponse:
        if request.headers["Authorization"] == "Bearer sk-tenant-a-bad":
            return web.json_response({"error": {"message": "down"}}, status=500)
        return web.json_response({"choices": []})

    upstream.handler = by_key
    policy = BreakerPolicy(failures=2, cooldown_s=30)
    a = Route(provider="openai", api_base=upstream.url, model_name="gpt", api_key="sk-tenant-a-bad",
              breaker=policy)  # fmt: skip
    b = Route(provider="openai", api_base=upstream.url, model_name="gpt", api_key="sk-tenant-b-ok",
              breaker=policy)  # fmt: skip
    breakers = Breakers()
    async with upstream_session() as session:
        exchange = Exchange(Send(session, connect_timeout=5), PROVIDERS, breakers=breakers)
        statuses = []
        for _ in range(4):
            for tenant, route in (("a", a), ("b", b)):
                try:
                    answer = await exchange.send(_tenant_call(tenant), route)
                    statuses.append((tenant, answer.status))
                    answer.close()
                except ProxyError as e:
                    statuses.append((tenant, e.status))
    assert [s for t, s in statuses if t == "a"] == [500, 500, 503, 503]
    assert [s for t, s in statuses if t == "b"] == [200, 200, 200, 200]
    assert breakers.open_count() == 1
    assert sum(1 for seen in upstream.seen if "tenant-a" in seen.headers["authorization"]) == 2


async def test_waits_grow_from_backoff_ms_with_full_jitter_capped_at_two_seconds(upstream):
    upstream.handler = lambda request: _answer(503)
    waits = Waits()
    route = Route(provider="openai", api_base=upstream.url, api_key="sk-route-key-0001",
                  retry=RetryPolicy(attempts=4, backoff_ms=700))  # fmt: skip
    async with upstream_session() as session:
        exchange = Exchange(
            Send(session, connect_timeout=5), PROVIDERS, sleep=waits, jitter=lambda: 0.5
        )
        answer = await exchange.send(make_call(), route)
        answer.close()
    assert waits.waits == [0.35, 0.7, 1.0]  # half of 0.7 s, 1.4 s, 2 s (2.8 capped)
    assert len(upstream.seen) == 4


async def test_a_spent_retry_budget_passes_the_failure_through(upstream):
    upstream.handler = lambda request: _answer(503)
    route = Route(provider="openai", api_base=upstream.url, api_key="sk-route-key-0001",
                  retry=RetryPolicy(attempts=5, backoff_ms=1))  # fmt: skip
    async with upstream_session() as session:
        exchange = Exchange(
            Send(session, connect_timeout=5), PROVIDERS, budget=RetryBudget(), sleep=Waits()
        )
        first = await exchange.send(make_call(), route)  # 1 try + the 3 free retries
        first.close()
        second_call = make_call()
        second = await exchange.send(second_call, route)
        second.close()
    assert second.status == 503
    # 2 first tries allow 3.4 retries, and the first request took 3: none is left.
    assert len(upstream.seen) == 4 + 1 and second_call.record.attempts == 1


async def _answer(status: int) -> web.StreamResponse:
    return web.json_response({"error": {"message": "no"}}, status=status)


async def test_retry_after_replaces_the_wait_up_to_max_wait_s(upstream):
    answers = iter([("2", 503), ("1.5", 429), (None, 200)])

    async def answer(request: web.Request) -> web.StreamResponse:
        retry_after, status = next(answers)
        headers = {"Retry-After": retry_after} if retry_after else None
        return web.json_response({}, status=status, headers=headers)

    upstream.handler = answer
    waits = Waits()
    route = Route(provider="openai", api_base=upstream.url, api_key="sk-route-key-0001",
                  retry=RetryPolicy(attempts=3, backoff_ms=100, max_wait_s=2))  # fmt: skip
    async with upstream_session() as session:
        exchange = Exchange(Send(session, connect_timeout=5), PROVIDERS, sleep=waits)
        call = make_call()
        answer_ = await exchange.send(call, route)
        answer_.close()
    assert answer_.status == 200 and call.record.attempts == 3
    assert waits.waits == [2.0, 1.5]  # the upstream's, not the backoff's
