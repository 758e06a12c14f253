"""GET /admin/tenants/{id}/usage (SPEC 8.1) on the real gateway in built-in-store mode,
each backend: real requests through the proxy, read back from the ledger's rollups."""

from __future__ import annotations

import asyncio
import calendar
from datetime import UTC, datetime

import pytest

from tests.admin.conftest import ADMIN
from tests.admin.test_tenants import create
from tests.admin.test_tokens import as_bearer, mint
from tests.conftest import openai_route

TODAY = datetime.now(UTC).date().isoformat()


def chat(model: str) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


async def report(client, tenant_id: str, **query: str) -> dict:
    resp = await client.get(f"/admin/tenants/{tenant_id}/usage", params=query, headers=ADMIN)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def reported(client, tenant_id: str, requests: int, refused: int) -> dict:
    """The report once the ledger has written what was sent (batches, off the request path)."""
    async with asyncio.timeout(10):
        while True:
            doc = await report(client, tenant_id, start=TODAY, end=TODAY)
            if (doc["total"]["requests"], doc["total"]["refused"]) == (requests, refused):
                return doc
            await asyncio.sleep(0.05)


@pytest.fixture
async def used(gateway, upstream, sink):
    """Tenant acme (budget 5 USD): 3 priced and 1 unpriced requests forwarded, one
    refused (unknown model); a bad token and another tenant's token are not its usage."""
    priced = openai_route(upstream.url, input_cost_per_mtok=1.0, output_cost_per_mtok=2.0)
    house = openai_route(upstream.url, model="house-model")
    doc = {"models": [priced, house], "budget": {"monthly_usd": 5}}
    assert (await create(gateway, "acme", doc)).status == 201
    assert (await create(gateway, "other", {"models": [house]})).status == 201
    token = as_bearer((await mint(gateway, "acme"))["token"])
    other = as_bearer((await mint(gateway, "other"))["token"])
    statuses = []
    for model, headers in [
        *[("gpt-4o-mini", token)] * 3,
        ("house-model", token),
        ("nope", token),
        ("gpt-4o-mini", as_bearer("tp-not-a-token")),
        ("gpt-4o-mini", other),
    ]:
        url = "/users/acme/v1/chat/completions"
        resp = await gateway.post(url, json=chat(model), headers=headers)
        statuses.append(resp.status)
    assert statuses == [200, 200, 200, 200, 404, 401, 403]
    await reported(gateway, "acme", 4, 1)
    costs = [r.cost_usd for r in sink.records if r.model == "gpt-4o-mini" and r.status == 200]
    return gateway, round(sum(costs) * 1_000_000)


async def test_by_model_day_and_both(used):
    client, micro = used
    by_model = await report(client, "acme", start=TODAY, end=TODAY, group_by="model")
    assert [(g["key"], g["model"], g["requests"]) for g in by_model["groups"]] == [
        ("gpt-4o-mini", "gpt-4o-mini", 3),
        ("house-model", "house-model", 1),
    ]
    priced, house = by_model["groups"]
    assert (priced["input_tokens"], priced["output_tokens"], priced["cached_tokens"]) == (33, 12, 9)
    assert round(priced["cost_usd"] * 1_000_000) == micro and priced["unpriced_requests"] == 0
    assert (house["cost_usd"], house["unpriced_requests"]) == (0, 1)
    assert "day" not in priced
    total = by_model["total"]
    assert (total["requests"], total["refused"], total["unpriced_requests"]) == (4, 1, 1)
    assert round(total["cost_usd"] * 1_000_000) == micro

    by_day = await report(client, "acme", start=TODAY, end=TODAY)
    assert by_day["group_by"] == "day"
    assert [(g["key"], g["day"], g["requests"]) for g in by_day["groups"]] == [(TODAY, TODAY, 4)]

    both = await report(client, "acme", start=TODAY, end=TODAY, group_by="day,model")
    assert [(g["key"], g["day"], g["model"]) for g in both["groups"]] == [
        (f"{TODAY} gpt-4o-mini", TODAY, "gpt-4o-mini"),
        (f"{TODAY} house-model", TODAY, "house-model"),
    ]


async def test_the_budget_block_is_the_month_counters(used):
    client, micro = used
    budget = (await report(client, "acme"))["budget"]
    assert budget["month"] == TODAY[:7] and budget["monthly_usd"] == 5
    assert round(budget["spent_usd"] * 1_000_000) == micro and budget["reserved_usd"] == 0


async def test_without_dates_the_current_month(used):
    client, _ = used
    doc = await report(client, "acme")
    now = datetime.now(UTC)
    last = calendar.monthrange(now.year, now.month)[1]
    assert (doc["start"], doc["end"]) == (f"{TODAY[:7]}-01", f"{TODAY[:7]}-{last:02d}")
    assert doc["total"]["requests"] == 4
    assert (await report(client, "acme", start="2026-02-10"))["end"] == "2026-02-28"
    assert (await report(client, "acme", end="2024-02-10"))["start"] == "2024-02-01"


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-13-01"},
        {"start": "yesterday", "end": "2026-01-01"},
        {"start": "2026-02-02", "end": "2026-02-01"},
        {"start": "2025-01-01", "end": "2026-01-02"},  # 367 days
        {"group_by": "week"},
        {"group_by": "model,day"},
    ],
)
async def test_bad_queries_are_400(used, query):
    client, _ = used
    resp = await client.get("/admin/tenants/acme/usage", params=query, headers=ADMIN)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["type"] == "invalid_request_error" and error["param"] in (
        "start",
        "end",
        "group_by",
    )


async def test_366_days_are_allowed(used):
    client, _ = used
    doc = await report(client, "acme", start="2025-01-01", end="2026-01-01")
    assert doc["total"]["requests"] == 0 and doc["groups"] == []


async def test_a_deleted_tenants_usage_stays_and_an_unknown_id_is_404(used):
    client, _ = used
    resp = await client.delete("/admin/tenants/acme", headers=ADMIN)
    assert resp.status == 204
    doc = await report(client, "acme", start=TODAY, end=TODAY)
    assert doc["total"]["requests"] == 4 and doc["budget"]["monthly_usd"] is None
    for never in ("nobody", "bad%20id"):
        resp = await client.get(f"/admin/tenants/{never}/usage", headers=ADMIN)
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    assert (await report(client, "other"))["total"]["requests"] == 0
