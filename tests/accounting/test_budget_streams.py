"""A stream the upstream cuts and a client that leaves mid-stream: both are settled
against the budget at the cost recorded for them (estimated from what was relayed,
`usage_estimated: true`), and leave no reservation behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from proxy.accounting.quota_script import reserved_key, spend_key
from tests.api.test_proxy_streaming import (
    CHUNK1,
    CHUNK2,
    SSE_HEAD,
    _chunk,
    _post_stream,
    raw_upstream,
)
from tests.conftest import openai_route
from tests.helpers import sse


def _month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


async def _settled(client, redis_client) -> tuple[int, bytes | None]:
    """The month's spend and reservation once the gateway shut down (which flushes)."""
    await client.close()
    spent = await redis_client.get(spend_key("static", _month()))
    return int(spent or 0), await redis_client.get(reserved_key("static", _month()))


async def test_a_cut_stream_is_settled_at_its_estimated_cost(
    make_proxy, sink, redis_target, redis_client
):
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD + _chunk(sse(CHUNK1)) + _chunk(sse(CHUNK2)))
        await writer.drain()
        writer.transport.abort()  # reset before the usage chunk

    async with raw_upstream(script) as url:
        doc = {"models": [openai_route(url)], "budget": {"monthly_usd": 5}}
        client = await make_proxy(doc, **redis_target.env)
        await (await _post_stream(client)).read()
        (record,) = await sink.wait_for(1)
        spent, reserved = await _settled(client, redis_client)
    assert record.usage_estimated is True and record.cost_usd
    assert spent == round(record.cost_usd * 1_000_000) and reserved is None


async def test_a_client_that_leaves_is_settled_at_its_estimated_cost(
    make_proxy, sink, redis_target, redis_client
):
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD + _chunk(sse(CHUNK1, CHUNK2)))
        await writer.drain()
        await reader.read()  # until the proxy closes its side

    async with raw_upstream(script) as url:
        doc = {
            "models": [openai_route(url)],
            "budget": {"monthly_usd": 5},
            "limits": {"tpm": 10**6},
        }
        client = await make_proxy(doc, **redis_target.env)
        resp = await _post_stream(client)
        assert await resp.content.readuntil(b"\n\n") == sse(CHUNK1)
        resp.close()
        (record,) = await sink.wait_for(1)
        spent, reserved = await _settled(client, redis_client)
    assert record.status == 499 and record.usage_estimated is True and record.cost_usd
    assert spent == round(record.cost_usd * 1_000_000) and reserved is None
