"""The /v1 pass-through against a real upstream on loopback: what goes up, what comes back."""

from __future__ import annotations

import asyncio
import re
import time

import orjson
import pytest
from aiohttp import web

from proxy.upstream.error_body import MAX_ERROR_BODY
from tests.conftest import openai_route
from tests.helpers import CHAT_COMPLETION

CHAT = "/v1/chat/completions"
BODY = b'{"model": "gpt-4o-mini",   "messages": [{"role": "user", "content": "hi"}], "temperature": 0.70}'


async def test_body_method_and_query_reach_the_upstream_untouched(make_proxy, upstream):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    resp = await client.post(
        CHAT + "?api-version=2024-10&x=1", data=BODY, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 200
    seen = upstream.seen[0]
    assert (seen.method, seen.path, seen.query) == ("POST", CHAT, "api-version=2024-10&x=1")
    assert seen.body == BODY  # the client's bytes, not a re-encoding
    assert await resp.json() == CHAT_COMPLETION


async def test_api_base_with_v1_or_trailing_slash_joins_once(make_proxy, upstream):
    client = await make_proxy(
        {
            "models": [
                openai_route(upstream.url + "/v1/", model="a"),
                openai_route(upstream.url + "/", model="b"),
            ]
        }
    )
    for model in ("a", "b"):
        resp = await client.post(CHAT, json={"model": model})
        assert resp.status == 200
    assert [s.path for s in upstream.seen] == [CHAT, CHAT]


async def test_upstream_model_rewrites_only_the_model(make_proxy, upstream):
    route = openai_route(upstream.url, model="fast", upstream_model="gpt-4o-mini-2024-07-18")
    client = await make_proxy({"models": [route]})
    resp = await client.post(CHAT, json={"model": "fast", "messages": [], "top_p": 0.5})
    assert resp.status == 200
    sent = orjson.loads(upstream.seen[0].body)
    assert sent == {"model": "gpt-4o-mini-2024-07-18", "messages": [], "top_p": 0.5}


async def test_default_route_serves_unlisted_models_unchanged(make_proxy, upstream):
    client = await make_proxy(
        {
            "models": [],
            "default": {"provider": "openai", "api_base": upstream.url, "api_key": "sk-d"},
        }
    )
    resp = await client.post(CHAT, data=b'{"model":"any-model-x"}')
    assert resp.status == 200
    assert upstream.seen[0].body == b'{"model":"any-model-x"}'


async def test_unknown_model_without_default_is_404(make_proxy, upstream):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    resp = await client.post(CHAT, json={"model": "gpt-5-turbo-ultra"})
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "model_not_found"
    assert upstream.seen == []


async def test_allowed_models_wins_over_default(make_proxy, upstream):
    default = {"provider": "openai", "api_base": upstream.url, "api_key": "sk-d"}
    client = await make_proxy({"default": default, "allowed_models": ["ok-model"]})
    denied = await client.post(CHAT, json={"model": "other"})
    assert denied.status == 403
    body = await denied.json()
    assert body["error"] == {
        "message": "The model 'other' is not allowed for this tenant.",
        "type": "permission_error",
        "code": "model_not_allowed",
        "param": "model",
    }
    assert (await client.post(CHAT, json={"model": "ok-model"})).status == 200
    assert len(upstream.seen) == 1


async def test_client_credentials_and_cookies_never_reach_the_upstream(make_proxy, upstream):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    await client.post(
        CHAT,
        json={"model": "gpt-4o-mini"},
        headers={
            "Authorization": "Bearer sk-client-secret",
            "X-Provider-API-Key": "sk-client-provider",
            "x-api-key": "sk-client-anthropic",
            "Cookie": "session=abc",
            "X-Forwarded-For": "10.1.2.3",
            "OpenAI-Organization": "org-123",
        },
    )
    headers = upstream.seen[0].headers
    assert headers["authorization"] == "Bearer sk-route-key-0001"
    assert "sk-client" not in repr(headers)
    assert "cookie" not in headers and "x-forwarded-for" not in headers
    assert headers["openai-organization"] == "org-123"  # ordinary headers pass


async def test_hop_by_hop_headers_are_dropped_including_those_named_in_connection(
    make_proxy, upstream
):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    await client.post(
        CHAT,
        json={"model": "gpt-4o-mini"},
        headers={"Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1", "TE": "trailers"},
    )
    headers = upstream.seen[0].headers
    assert "x-secret-hop" not in headers and "te" not in headers


async def test_anthropic_route_sends_x_api_key_and_a_version(make_proxy, upstream):
    route = {
        "model_name": "claude",
        "provider": "anthropic",
        "api_base": upstream.url,
        "api_key": "sk-ant-route",
    }
    client = await make_proxy({"models": [route]})
    await client.post("/v1/messages", json={"model": "claude", "max_tokens": 5, "messages": []})
    await client.post(
        "/v1/messages",
        json={"model": "claude", "max_tokens": 5, "messages": []},
        headers={"anthropic-version": "2024-01-01"},
    )
    first, second = upstream.seen
    assert first.headers["x-api-key"] == "sk-ant-route"
    assert "authorization" not in first.headers
    assert first.headers["anthropic-version"] == "2023-06-01"
    assert second.headers["anthropic-version"] == "2024-01-01"


async def test_provider_key_header_is_the_fallback_and_its_absence_is_401(make_proxy, upstream):
    route = {"model_name": "m", "provider": "openai", "api_base": upstream.url}
    client = await make_proxy({"models": [route]})
    missing = await client.post(CHAT, json={"model": "m"})
    assert missing.status == 401
    assert (await missing.json())["error"]["code"] == "missing_upstream_key"
    ok = await client.post(CHAT, json={"model": "m"}, headers={"X-Provider-API-Key": "sk-byok-77"})
    assert ok.status == 200
    assert upstream.seen[0].headers["authorization"] == "Bearer sk-byok-77"
    assert "x-provider-api-key" not in upstream.seen[0].headers


async def test_response_carries_request_id_and_timing_headers(make_proxy, upstream):
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(
            CHAT_COMPLETION,
            headers={
                "x-request-id": "up-42",
                "x-ratelimit-remaining-requests": "99",
                "Set-Cookie": "a=b",
            },
        )

    upstream.handler = answer
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    before = time.time()
    resp = await client.post(CHAT, json={"model": "gpt-4o-mini"})
    after = time.time()
    h = resp.headers
    assert re.fullmatch(r"req_[0-9a-f]+", h["x-request-id"])
    assert h["x-upstream-request-id"] == "up-42"
    assert h["x-ratelimit-remaining-requests"] == "99"
    assert "Set-Cookie" not in h
    start, stop = h["x-upstream-request-start"], h["x-upstream-request-stop"]
    assert re.fullmatch(r"\d+\.\d{6}", start) and re.fullmatch(r"\d+\.\d{6}", stop)
    assert before <= float(start) <= float(stop) <= after
    timing = re.fullmatch(r"proxy;dur=(\d+\.\d+), upstream;dur=(\d+\.\d+)", h["Server-Timing"])
    assert timing is not None
    assert abs(float(timing.group(2)) - (float(stop) - float(start)) * 1000) < 0.01


async def test_client_request_id_is_echoed_only_when_safe(make_proxy, upstream):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    ok = await client.post(
        CHAT, json={"model": "gpt-4o-mini"}, headers={"X-Request-ID": "trace:ab-12.3"}
    )
    assert ok.headers["x-request-id"] == "trace:ab-12.3"
    for bad in ("has space", "x" * 129, "semi;colon"):
        resp = await client.post(CHAT, json={"model": "gpt-4o-mini"}, headers={"X-Request-ID": bad})
        assert resp.headers["x-request-id"] != bad
        assert resp.headers["x-request-id"].startswith("req_")


async def test_redirects_are_passed_back_not_followed(make_proxy, upstream):
    async def answer(request: web.Request) -> web.Response:
        if request.path == "/elsewhere":
            return web.Response(text="followed!")
        return web.Response(status=307, headers={"Location": upstream.url + "/elsewhere"})

    upstream.handler = answer
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    resp = await client.post(CHAT, json={"model": "gpt-4o-mini"}, allow_redirects=False)
    assert resp.status == 307
    assert [s.path for s in upstream.seen] == [CHAT]


async def test_upstream_errors_pass_through_with_the_route_key_masked(make_proxy, upstream):
    async def answer(request: web.Request) -> web.Response:
        key = request.headers["Authorization"].removeprefix("Bearer ")
        return web.json_response(
            {"error": {"message": f"Incorrect API key provided: {key}", "code": "invalid_api_key"}},
            status=401,
        )

    upstream.handler = answer
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    resp = await client.post(CHAT, json={"model": "gpt-4o-mini"})
    assert resp.status == 401
    text = await resp.text()
    assert "sk-route-key-0001" not in text
    assert "sk-...0001" in text


async def _error_in_pieces(request: web.Request, status: int, content_type: str, key: str):
    """An error answer that echoes `key`, the key split across two writes."""
    body = f'data: {{"error": {{"message": "Incorrect API key provided: Bearer {key}"}}}}\n\n'
    cut = body.index(key) + 6
    resp = web.StreamResponse(status=status, headers={"Content-Type": content_type})
    await resp.prepare(request)
    await resp.write(body[:cut].encode())
    await resp.write(body[cut:].encode())
    await resp.write_eof()
    return resp


@pytest.mark.parametrize("content_type", ["text/event-stream", "application/json", "text/plain"])
@pytest.mark.parametrize("key_from", ["route", "client"])
async def test_an_upstream_error_echoing_the_key_is_masked_whatever_its_type(
    make_proxy, upstream, sink, content_type, key_from
):
    async def answer(request: web.Request) -> web.StreamResponse:
        key = request.headers["Authorization"].removeprefix("Bearer ")
        return await _error_in_pieces(request, 401, content_type, key)

    upstream.handler = answer
    if key_from == "route":
        route, key, headers = openai_route(upstream.url), "sk-route-key-0001", {}
    else:
        route = {"model_name": "gpt-4o-mini", "provider": "openai", "api_base": upstream.url}
        key = "sk-client-provider-key-9876"
        headers = {"X-Provider-API-Key": key}
    client = await make_proxy({"models": [route]})
    resp = await client.post(CHAT, json={"model": "gpt-4o-mini", "stream": True}, headers=headers)
    assert resp.status == 401
    text = await resp.text()
    assert key not in text and key[:9] not in text
    assert f"Bearer {key[:3]}...{key[-4:]}" in text
    assert resp.headers.get("Transfer-Encoding") is None  # a whole answer, not a stream
    (record,) = await sink.wait_for(1)
    assert record.status == 401


async def test_an_error_body_that_never_ends_is_cut_not_buffered(make_proxy, upstream):
    release = asyncio.Event()

    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=500, headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        for _ in range(16):
            await resp.write(b"x" * 65536)
        await release.wait()  # and never ends
        return resp

    upstream.handler = answer
    client = await make_proxy({"models": [openai_route(upstream.url, timeout_s=30)]})
    try:
        async with asyncio.timeout(5):  # not the route's 30 s timeout
            resp = await client.post(CHAT, json={"model": "gpt-4o-mini"})
            body = await resp.read()
    finally:
        release.set()
    assert resp.status == 500
    assert body == b"x" * MAX_ERROR_BODY


async def test_non_json_paths_and_methods_are_forwarded(make_proxy, upstream):
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=b"\x00\x01audio", content_type="audio/mpeg")

    upstream.handler = answer
    client = await make_proxy(
        {"default": {"provider": "openai", "api_base": upstream.url, "api_key": "sk-d"}}
    )
    got = await client.get("/v1/files/file-abc/content")
    assert got.status == 200 and await got.read() == b"\x00\x01audio"
    assert got.headers["Content-Type"] == "audio/mpeg"
    deleted = await client.delete("/v1/files/file-abc")
    assert deleted.status == 200
    assert [(s.method, s.path) for s in upstream.seen] == [
        ("GET", "/v1/files/file-abc/content"),
        ("DELETE", "/v1/files/file-abc"),
    ]


async def test_multipart_upload_is_routed_by_its_model_field(make_proxy, upstream):
    client = await make_proxy(
        {"models": [openai_route(upstream.url, model="whisper-1")], "allowed_models": ["whisper-1"]}
    )
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n'
        b"Content-Type: audio/mpeg\r\n\r\n\x00\x01\x02\r\n--XX--\r\n"
    )
    resp = await client.post(
        "/v1/audio/transcriptions",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=XX"},
    )
    assert resp.status == 200
    assert upstream.seen[0].body == body


async def test_models_are_listed_from_the_config(make_proxy, upstream):
    client = await make_proxy(
        {
            "models": [openai_route(upstream.url), {"model_name": "m2", "provider": "mock"}],
        }
    )
    listing = await (await client.get("/v1/models")).json()
    assert listing["object"] == "list"
    assert [(m["id"], m["owned_by"], m["object"]) for m in listing["data"]] == [
        ("gpt-4o-mini", "openai", "model"),
        ("m2", "mock", "model"),
    ]
    one = await client.get("/v1/models/m2")
    assert (await one.json())["id"] == "m2"
    missing = await client.get("/v1/models/nope")
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "model_not_found"
    assert upstream.seen == []


async def test_models_list_shows_allowed_models_when_given(make_proxy, upstream):
    client = await make_proxy(
        {
            "models": [openai_route(upstream.url)],
            "default": {"provider": "mock"},
            "allowed_models": ["zeta", "gpt-4o-mini"],
        }
    )
    listing = await (await client.get("/v1/models")).json()
    assert [m["id"] for m in listing["data"]] == ["gpt-4o-mini", "zeta"]


async def test_usage_record_for_a_json_answer(make_proxy, upstream, sink):
    route = openai_route(upstream.url, input_cost_per_mtok=1.0, output_cost_per_mtok=2.0)
    client = await make_proxy({"models": [route]})
    resp = await client.post(CHAT, json={"model": "gpt-4o-mini"}, headers={"X-Request-ID": "r-1"})
    assert resp.status == 200
    (record,) = await sink.wait_for(1)
    assert record.request_id == "r-1"
    assert record.event_id.startswith("evt_") and record.event_id != "r-1"
    assert (record.model, record.provider, record.status, record.stream) == (
        "gpt-4o-mini",
        "openai",
        200,
        False,
    )
    assert (record.input_tokens, record.output_tokens, record.cached_tokens) == (11, 4, 3)
    # 8 uncached input at $1, 3 cached input at $1 (no cached price), 4 output at $2 per MTok.
    assert record.cost_usd == (11 * 1.0 + 4 * 2.0) / 1_000_000
    assert record.tenant is None and record.endpoint == CHAT
    assert record.upstream_ms is not None and record.duration_ms >= record.upstream_ms


async def test_each_request_gets_its_own_event_id(make_proxy, upstream, sink):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    for _ in range(3):
        await client.post(CHAT, json={"model": "gpt-4o-mini"}, headers={"X-Request-ID": "same"})
    records = await sink.wait_for(3)
    assert len({r.event_id for r in records}) == 3
