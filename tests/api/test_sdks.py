"""The official SDKs work against the gateway with only base_url changed."""

from __future__ import annotations

import pytest
from aiohttp import web
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI

from proxy.body import inspect_body
from proxy.providers.mock import MockProvider


def _provider_like_upstream(upstream) -> None:
    """The upstream answers with provider-shaped bodies (the mock's generator)."""
    provider = MockProvider()

    async def answer(request: web.Request) -> web.StreamResponse:
        body = inspect_body(await request.read(), request.headers.get("Content-Type", ""))
        reply = provider.reply(request.path, body, body.model or "x")
        if not reply.events:
            return web.Response(
                body=reply.body, status=reply.status, content_type=reply.content_type
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in reply.events:
            await resp.write(event)
        await resp.write_eof()
        return resp

    upstream.handler = answer


@pytest.fixture(params=["mock", "upstream"])
async def gateway(request, make_proxy, upstream):
    if request.param == "mock":
        config = {"default": {"provider": "mock"}}
    else:
        _provider_like_upstream(upstream)
        config = {
            "models": [
                {
                    "model_name": "claude-3-5-haiku",
                    "provider": "anthropic",
                    "api_base": upstream.url,
                    "api_key": "sk-ant-upstream",
                },
            ],
            "default": {"provider": "openai", "api_base": upstream.url, "api_key": "sk-upstream"},
        }
    client = await make_proxy(config)
    yield str(client.make_url("")).rstrip("/"), upstream


async def test_openai_sdk_chat_stream_and_embeddings(gateway, sink):
    base, upstream = gateway
    async with AsyncOpenAI(base_url=base + "/v1", api_key="client-key", max_retries=0) as client:
        chat = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}]
        )
        assert chat.choices[0].message.content == "This is a mock response from tenant-proxy."
        assert chat.usage is not None and chat.usage.completion_tokens == 7

        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "This is a mock response from tenant-proxy."

        embeddings = await client.embeddings.create(
            model="text-embedding-3-small", input=["a", "b"]
        )
        assert len(embeddings.data) == 2 and len(embeddings.data[0].embedding) == 8
    records = await sink.wait_for(3)
    assert [r.output_tokens for r in records] == [7, 7, 0]
    assert all("client-key" not in str(s.headers) for s in upstream.seen)


async def test_anthropic_sdk_messages_and_stream(gateway, sink):
    base, upstream = gateway
    async with AsyncAnthropic(base_url=base, api_key="client-key", max_retries=0) as client:
        message = await client.messages.create(
            model="claude-3-5-haiku", max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
        )
        assert message.content[0].text == "This is a mock response from tenant-proxy."
        async with client.messages.stream(
            model="claude-3-5-haiku", max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
        ) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        assert text == "This is a mock response from tenant-proxy."
        assert final.usage.output_tokens == 7
    records = await sink.wait_for(2)
    assert [(r.stream, r.output_tokens) for r in records] == [(False, 7), (True, 7)]
    for seen in upstream.seen:
        assert seen.headers.get("x-api-key") == "sk-ant-upstream"
