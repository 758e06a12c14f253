"""CORS: off unless configured; preflight answered without touching config."""

from __future__ import annotations

from tests.conftest import openai_route

CHAT = "/v1/chat/completions"


async def test_preflight_and_response_headers_for_allowed_origins(make_proxy, upstream):
    client = await make_proxy(
        {"models": [openai_route(upstream.url)]}, CORS_ALLOWED_ORIGINS="https://app.example"
    )
    pre = await client.options(
        CHAT,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert pre.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    assert upstream.seen == []
    resp = await client.post(
        CHAT, json={"model": "gpt-4o-mini"}, headers={"Origin": "https://app.example"}
    )
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "x-request-id" in resp.headers["Access-Control-Expose-Headers"]
    other = await client.post(
        CHAT, json={"model": "gpt-4o-mini"}, headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_wildcard(make_proxy):
    client = await make_proxy({"default": {"provider": "mock"}}, CORS_ALLOWED_ORIGINS="*")
    resp = await client.post(CHAT, json={"model": "m"}, headers={"Origin": "https://any.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_cors_is_off_by_default(make_proxy):
    client = await make_proxy({"default": {"provider": "mock"}})
    resp = await client.post(CHAT, json={"model": "m"}, headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers
