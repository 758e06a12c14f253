"""A stream the upstream cuts and a client that leaves mid-stream, in built-in-store
mode: both are settled against the budget and land in the ledger, `usage_estimated`
kept in the usage-records table, the cost equal to what was added to the month."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

import pytest

from proxy.accounting.redis_quota import reserved_key, spend_key
from tests.admin.test_tenants import create
from tests.admin.test_tokens import as_bearer, mint
from tests.api.test_proxy_streaming import (
    CHUNK1,
    CHUNK2,
    SSE_HEAD,
    STREAM_BODY,
    _chunk,
    raw_upstream,
)
from tests.conftest import REDIS_TEST_URL, mysql_admin, openai_route
from tests.helpers import sse

MONTH = datetime.now(UTC).strftime("%Y-%m")


@pytest.fixture
def redis_env(redis_client) -> dict[str, str]:
    return {"REDIS_URL": REDIS_TEST_URL}


def stored(database_url: str) -> list[tuple]:
    sql = "SELECT status, usage_estimated, cost_micro, stream FROM usage_records"
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return [tuple(r) for r in conn.execute(sql)]
    return [tuple(r) for r in mysql_admin(sql, database_url.rsplit("/", 1)[1])]


async def _through(make_store_proxy, redis_env, url: str, talk) -> object:
    """One streamed request of tenant acme (budget 5 USD) through `talk(response)`;
    the gateway then shut down (which writes the ledger and settles in Redis)."""
    client = await make_store_proxy(**redis_env)
    doc = {"models": [openai_route(url)], "budget": {"monthly_usd": 5}}
    assert (await create(client, "acme", doc)).status == 201
    headers = {
        **as_bearer((await mint(client, "acme"))["token"]),
        "Content-Type": "application/json",
    }
    resp = await client.post("/users/acme/v1/chat/completions", data=STREAM_BODY, headers=headers)
    await talk(resp)
    await client.close()
    return client


async def test_a_cut_stream_lands_in_the_ledger_estimated(
    make_store_proxy, redis_env, redis_client, database_url, sink
):
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD + _chunk(sse(CHUNK1)) + _chunk(sse(CHUNK2)))
        await writer.drain()
        writer.transport.abort()  # reset before the usage chunk

    async def read_all(resp) -> None:
        await resp.read()

    async with raw_upstream(script) as url:
        await _through(make_store_proxy, redis_env, url, read_all)
    [(status, estimated, cost, stream)] = stored(database_url)
    assert (status, estimated, stream) == (502, 1, 1) and cost > 0
    assert int(await redis_client.get(spend_key("acme", MONTH))) == cost
    assert await redis_client.get(reserved_key("acme", MONTH)) is None


async def test_a_client_that_leaves_lands_in_the_ledger_estimated(
    make_store_proxy, redis_env, redis_client, database_url, sink
):
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD + _chunk(sse(CHUNK1, CHUNK2)))
        await writer.drain()
        await reader.read()  # until the proxy closes its side

    async def leave(resp) -> None:
        assert await resp.content.readuntil(b"\n\n") == sse(CHUNK1)
        resp.close()
        await sink.wait_for(1)

    async with raw_upstream(script) as url:
        await _through(make_store_proxy, redis_env, url, leave)
    [(status, estimated, cost, stream)] = stored(database_url)
    assert (status, estimated, stream) == (499, 1, 1) and cost > 0
    assert int(await redis_client.get(spend_key("acme", MONTH))) == cost
    assert await redis_client.get(reserved_key("acme", MONTH)) is None
