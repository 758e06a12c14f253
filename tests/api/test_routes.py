"""The route table through the real app: which paths go where in each mode."""

from __future__ import annotations

import asyncio

from tests.conftest import bearer, tenant_doc

PREFLIGHT = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}


async def _raw(client, target: bytes) -> bytes:
    """One request with the target as given (no client-side normalisation)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
    async with asyncio.timeout(5):
        answer = await reader.read()
    writer.close()
    return answer


async def test_static_mode_serves_v1_and_the_operator_paths_only(make_proxy):
    client = await make_proxy({"default": {"provider": "mock"}})
    assert (await client.get("/v1/models")).status == 200
    for path in ("/healthz", "/readyz", "/metrics"):
        assert (await client.get(path)).status == 200, path
    for path in ("/users/u1/v1/models", "/", "/v1", "/healthz/x"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert (await resp.json())["error"]["code"] == "not_found"
    # Any method on /v1 reaches the handler, which answers 405 itself, as JSON.
    head = await client.options("/v1/models")
    assert head.status == 405 and (await head.json())["error"]["code"] == "method_not_allowed"


async def test_multi_tenant_mode_serves_users_paths_and_not_v1(make_mt_proxy, config_api, upstream):
    config_api.docs["alice"] = tenant_doc(upstream.url)
    client = await make_mt_proxy()
    ok = await client.get("/users/alice/v1/models", headers=bearer("alice"))
    assert ok.status == 200
    assert (await client.get("/users/alice/v1/models")).status == 401  # the handler's auth
    assert (await client.get("/v1/models", headers=bearer("alice"))).status == 404
    assert (await client.get("/healthz")).status == 200


async def test_a_preflight_never_reaches_the_handler_or_the_tenant_config(
    make_mt_proxy, config_api
):
    client = await make_mt_proxy(CORS_ALLOWED_ORIGINS="https://app.example")
    pre = await client.options("/users/alice/v1/chat/completions", headers=PREFLIGHT)
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "https://app.example"
    unknown = await client.options("/anything/else", headers=PREFLIGHT)
    assert unknown.status == 204
    assert config_api.total_calls() == 0
    # Without CORS there is no preflight route: OPTIONS reaches the handler's JSON 405.
    plain = await make_mt_proxy()
    refused = await plain.options("/users/alice/v1/chat/completions", headers=PREFLIGHT)
    assert refused.status == 405
    assert (await refused.json())["error"]["code"] == "method_not_allowed"
    assert config_api.total_calls() == 0


async def test_operator_paths_check_the_target_they_were_routed_by(make_proxy):
    client = await make_proxy({"default": {"provider": "mock"}})
    # aiohttp routes these by their normalised path (/metrics, /healthz, /readyz):
    # the target as sent is still refused.
    for target in (b"/healthz/../metrics", b"/x/../healthz", b"/metrics/%2e%2e/readyz"):
        answer = await _raw(client, target)
        assert answer.split(b"\r\n")[0].endswith(b"400 Bad Request"), target
        assert b'"invalid_path"' in answer, target
    answer = await _raw(client, b"http://evil.example/healthz")
    assert answer.split(b"\r\n")[0].endswith(b"400 Bad Request")
    assert b'"invalid_path"' in answer


async def test_encoded_cr_and_lf_in_a_tail_reach_the_path_checks(make_proxy):
    client = await make_proxy({"default": {"provider": "mock"}})
    for target in (b"/v1/mod%0Dels", b"/v1/mod%0Aels", b"/nowhere/%0D%0A"):
        answer = await _raw(client, target)
        assert answer.split(b"\r\n")[0].endswith(b"400 Bad Request"), target
        assert b'"invalid_path"' in answer, target
