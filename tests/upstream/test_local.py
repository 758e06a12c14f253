"""A send answered in process: the mock's reply, after the route's latency."""

from __future__ import annotations

import time

import orjson

from proxy.providers.mock import MockProvider
from proxy.route import Route
from proxy.upstream.local import LocalSend
from tests.helpers import make_call


async def test_the_reply_names_the_upstream_model_and_comes_after_the_latency():
    route = Route(provider="mock", api_base="mock:", upstream_model="up", mock_latency_ms=30)
    call = make_call(b'{"model":"asked","max_tokens":2}')
    begun = time.perf_counter()
    reply = await LocalSend(MockProvider()).send(call, route)
    assert time.perf_counter() - begun >= 0.03
    assert call.sent >= begun and call.sent_wall > 0
    doc = orjson.loads(reply.body)
    assert (reply.status, doc["model"], doc["usage"]["completion_tokens"]) == (200, "up", 2)


async def test_without_an_upstream_model_the_clients_model_is_answered():
    route = Route(provider="mock", api_base="mock:")
    reply = await LocalSend(MockProvider()).send(make_call(b'{"model":"asked"}'), route)
    assert orjson.loads(reply.body)["model"] == "asked"
