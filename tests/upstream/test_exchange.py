"""The exchange: each route's provider decides how a try is made (network or in
process); one try per request today."""

from __future__ import annotations

import aiohttp

from proxy.providers import PROVIDERS, LocalReply
from proxy.route import Route
from proxy.upstream.exchange import Exchange
from proxy.upstream.send import Send
from tests.helpers import make_call, upstream_session


async def test_network_routes_are_sent_and_in_process_routes_answered_locally(upstream):
    async with upstream_session() as session:
        exchange = Exchange(Send(session, connect_timeout=5), PROVIDERS)
        network = Route(provider="openai", api_base=upstream.url, api_key="sk-route-key-0001")
        answer = await exchange.send(make_call(), network)
        assert isinstance(answer, aiohttp.ClientResponse) and answer.status == 200
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
