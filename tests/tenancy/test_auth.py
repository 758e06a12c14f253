"""Static client keys through the real app: both header styles, clear 401s."""

from __future__ import annotations

CHAT = "/v1/chat/completions"
CONFIG = {"default": {"provider": "mock"}, "auth": {"keys": ["tp-static-key-1"]}}


async def test_keys_are_enforced_when_configured(make_proxy):
    client = await make_proxy(CONFIG)
    missing = await client.post(CHAT, json={"model": "m"})
    assert missing.status == 401
    assert (await missing.json())["error"]["code"] == "missing_credentials"
    wrong = await client.post(CHAT, json={"model": "m"}, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert (await wrong.json())["error"]["code"] == "invalid_token"
    bearer = await client.post(
        CHAT, json={"model": "m"}, headers={"Authorization": "Bearer tp-static-key-1"}
    )
    assert bearer.status == 200
    x_api_key = await client.post(
        CHAT, json={"model": "m"}, headers={"x-api-key": "tp-static-key-1"}
    )
    assert x_api_key.status == 200


async def test_models_listing_needs_a_key_too(make_proxy):
    client = await make_proxy(CONFIG)
    assert (await client.get("/v1/models")).status == 401
    ok = await client.get("/v1/models", headers={"Authorization": "Bearer tp-static-key-1"})
    assert ok.status == 200
