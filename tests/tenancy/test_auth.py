"""Static client keys through the real app: both header styles, clear 401s."""

from __future__ import annotations

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.errors import InvalidTokenError
from proxy.tenancy.auth import presented_token
from tests.helpers import raw_post_json

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


NOT_UTF8 = b"\xff\xfe"


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer " + NOT_UTF8,
        b"Authorization: Bearer tp-static-key-1" + NOT_UTF8,
        b"x-api-key: " + NOT_UTF8,
    ],
)
async def test_credentials_that_are_not_utf8_are_an_invalid_token(make_proxy, header):
    client = await make_proxy(CONFIG)
    status, body = await raw_post_json(
        str(client.make_url("")), CHAT, header + b"\r\n", b'{"model": "m"}'
    )
    assert status == 401
    error = orjson.loads(body)["error"]
    assert (error["type"], error["code"]) == ("authentication_error", "invalid_token")


async def test_a_non_ascii_utf8_key_still_works(make_proxy):
    client = await make_proxy({**CONFIG, "auth": {"keys": ["clé-statique-1"]}})
    status, _ = await raw_post_json(
        str(client.make_url("")),
        CHAT,
        "x-api-key: clé-statique-1\r\n".encode(),
        b'{"model": "m"}',
    )
    assert status == 200


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ({"Authorization": "Bearer abc"}, "abc"),
        ({"Authorization": "bEaReR   abc  "}, "abc"),
        ({"authorization": "BEARER abc"}, "abc"),
        ({"Authorization": "Bearer", "x-api-key": "k"}, "k"),
        ({"Authorization": "Bearer    ", "x-api-key": " k "}, "k"),
        ({"Authorization": "Basic abc", "x-api-key": "k"}, "k"),
        ({"Authorization": "Bearer\tabc"}, None),
        ({"Authorization": "Bearerabc"}, None),
        ({"Authorization": "Token abc"}, None),
        ({"X-API-KEY": "   "}, None),
        ({}, None),
        ({"Authorization": "Bearer clé"}, "clé"),
    ],
)
def test_the_presented_token_is_the_bearer_else_the_api_key(headers, token):
    """The scheme is what precedes the first space, in any case; the token is stripped."""
    assert presented_token(CIMultiDictProxy(CIMultiDict(headers))) == token


def test_a_token_with_lone_surrogates_is_refused():
    headers = CIMultiDictProxy(CIMultiDict({"Authorization": "Bearer ab\udcffc"}))
    with pytest.raises(InvalidTokenError):
        presented_token(headers)
