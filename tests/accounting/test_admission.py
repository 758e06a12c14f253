"""Admission: the stage between the route and the exchange. The wiring picks it;
whatever it refuses never reaches the upstream and is still recorded once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from proxy.accounting.admission import Admission, AdmitAll
from proxy.accounting.cost import PriceBook
from proxy.accounting.settlement import Settlement
from proxy.api.proxy import ProxyHandler
from proxy.api.relay import Relay
from proxy.body import RequestBody, inspect_body
from proxy.errors import BudgetExceededError
from proxy.ids import IdGenerator
from proxy.lifecycle import Lifecycle
from proxy.providers import PROVIDERS
from proxy.route import Route
from proxy.telemetry.metrics import Metrics
from proxy.tenancy.auth import OpenAccess
from proxy.tenancy.config import TenantConfig, parse_tenant_config
from proxy.tenancy.source import StaticSource
from proxy.upstream.exchange import Exchange
from proxy.upstream.send import Send
from proxy.usage_record import UsageRecord
from tests.conftest import openai_route
from tests.helpers import RecordingSink, upstream_session

ROUTE = Route(provider="openai", api_base="http://x")


def test_admit_all_admits_at_once():
    admission: Admission = AdmitAll()
    record = UsageRecord("ev", "req", 0.0, "POST", "/v1/chat/completions")
    assert (
        admission.admit(
            record, ROUTE, inspect_body(b'{"model":"m"}', "application/json"), TenantConfig({})
        )
        is None
    )


class RefuseOverBudget:
    """What a budget will do: wait on its store, then admit or refuse."""

    def __init__(self) -> None:
        self.asked: list[tuple[str | None, int]] = []

    def admit(self, record: UsageRecord, route: Route, body: RequestBody, quota: Any) -> Any:
        self.asked.append((record.model, len(body.raw)))
        return self._decide(record.model)

    async def _decide(self, model: str | None) -> None:
        await asyncio.sleep(0)  # a round trip to Redis
        if model == "expensive":
            raise BudgetExceededError("The tenant's monthly budget is spent.", retry_after=60)


@pytest.fixture
def gateway_with(aiohttp_client: Any, upstream: Any, sink: RecordingSink):
    """A gateway composed by hand from real stages, with the given admission."""

    async def make(admission: Admission) -> Any:
        config = parse_tenant_config(
            {"models": [openai_route(upstream.url), openai_route(upstream.url, model="expensive")]}
        )
        app = web.Application()
        handlers: list[ProxyHandler] = []

        async def proxy(request: web.Request) -> web.StreamResponse:
            return await handlers[0].handle(request)

        async def proxy_ctx(app: web.Application) -> AsyncIterator[None]:
            metrics = Metrics()
            async with upstream_session() as session:
                handler = ProxyHandler(
                    tenants=StaticSource(config),
                    auth=OpenAccess(),
                    admission=admission,
                    exchange=Exchange(Send(session, connect_timeout=5), PROVIDERS),
                    relay=Relay(lifecycle=Lifecycle(), metrics=metrics),
                    settlement=Settlement(prices=PriceBook(), metrics=metrics, sink=sink),
                    ids=IdGenerator(),
                    metrics=metrics,
                    max_body_bytes=1 << 20,
                )
                handlers.append(handler)
                yield

        app.cleanup_ctx.append(proxy_ctx)
        app.router.add_route("*", "/v1/{tail:.*}", proxy)
        return await aiohttp_client(app)

    return make


async def test_an_admission_that_refuses_keeps_the_request_from_the_upstream(
    gateway_with, upstream, sink
):
    admission = RefuseOverBudget()
    client = await gateway_with(admission)
    ok = await client.post("/v1/chat/completions", json={"model": "gpt-4o-mini"})
    refused = await client.post("/v1/chat/completions", json={"model": "expensive"})
    assert ok.status == 200
    assert refused.status == 429 and refused.headers["Retry-After"] == "60"
    assert (await refused.json())["error"]["code"] == "budget_exceeded"
    assert [s.body for s in upstream.seen] == [b'{"model": "gpt-4o-mini"}']
    assert admission.asked == [("gpt-4o-mini", 24), ("expensive", 22)]
    records = await sink.wait_for(2)
    assert [(r.status, r.error) for r in records] == [(200, None), (429, "budget_exceeded")]
