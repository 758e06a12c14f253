"""Errors as clients see them: OpenAI-shaped JSON, their status and headers, nothing leaked."""

from __future__ import annotations

import logging

from aiohttp import web

from proxy import keys
from proxy.api.errors import error_response, json_errors
from proxy.errors import InvalidJSONError, MalformedRequestError, ProxyError
from proxy.ids import IdGenerator


class SlowDownError(ProxyError):
    status, error_type, code = 429, "rate_limit_error", "slow_down"
    retry_after = 2.9


async def _error_app(aiohttp_client, handler):
    app = web.Application()
    app[keys.IDS] = IdGenerator()
    app.router.add_get("/", json_errors(handler))
    return await aiohttp_client(app)


async def test_a_proxy_error_answers_its_status_and_openai_body_with_the_request_id(
    aiohttp_client,
):
    async def refuse(request: web.Request) -> web.Response:
        raise InvalidJSONError("The body is not JSON.", param="body")

    client = await _error_app(aiohttp_client, refuse)
    resp = await client.get("/", headers={"X-Request-ID": "client-id-1"})
    assert resp.status == 400
    assert resp.headers["x-request-id"] == "client-id-1"
    assert resp.content_type == "application/json"
    assert await resp.json() == {
        "error": {
            "message": "The body is not JSON.",
            "type": "invalid_request_error",
            "code": "invalid_json",
            "param": "body",
        }
    }
    assert "Retry-After" not in resp.headers
    assert resp.headers.get("Connection", "").lower() != "close"


async def test_retry_after_is_whole_seconds_and_a_closing_error_closes_the_connection(
    aiohttp_client,
):
    async def slow(request: web.Request) -> web.Response:
        raise SlowDownError("Slow down.")

    client = await _error_app(aiohttp_client, slow)
    resp = await client.get("/")
    assert (resp.status, resp.headers["Retry-After"]) == (429, "2")
    assert resp.headers["x-request-id"].startswith("req_")  # none given: one is made


async def test_an_error_that_leaves_the_request_unread_closes_the_connection(aiohttp_client):
    async def unreadable(request: web.Request) -> web.Response:
        return error_response(MalformedRequestError("Bad request line."), None)

    client = await _error_app(aiohttp_client, unreadable)
    resp = await client.get("/")
    assert resp.status == 400 and resp.headers["Connection"].lower() == "close"
    assert "x-request-id" not in resp.headers  # no id given to error_response, none sent


async def test_an_unexpected_exception_is_logged_whole_and_the_client_learns_nothing(
    aiohttp_client, caplog
):
    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("db password hunter2 at 10.0.0.7")

    client = await _error_app(aiohttp_client, crash)
    with caplog.at_level(logging.ERROR, logger="proxy.api"):
        resp = await client.get("/", headers={"X-Request-ID": "boom-1"})
    body = await resp.text()
    assert resp.status == 500 and resp.headers["x-request-id"] == "boom-1"
    assert "hunter2" not in body and "10.0.0.7" not in body and "RuntimeError" not in body
    assert (await resp.json())["error"] == {
        "message": "Internal error (request id boom-1).",
        "type": "server_error",
        "code": "internal_error",
        "param": None,
    }
    [record] = [r for r in caplog.records if r.name == "proxy.api"]
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])
    assert (record.request_id, record.path) == ("boom-1", "/")


async def test_http_exceptions_pass_through_json_errors(aiohttp_client):
    async def not_modified(request: web.Request) -> web.Response:
        raise web.HTTPNotModified()

    client = await _error_app(aiohttp_client, not_modified)
    assert (await client.get("/")).status == 304


async def test_unknown_paths_are_json_404s_with_the_multi_tenant_hint_where_it_helps(
    make_proxy, make_mt_proxy
):
    static = await make_proxy({"default": {"provider": "mock"}})
    resp = await static.get("/v2/models", headers={"X-Request-ID": "nf-1"})
    assert (resp.status, resp.headers["x-request-id"]) == (404, "nf-1")
    assert (await resp.json())["error"] == {
        "message": "Unknown path.",
        "type": "not_found_error",
        "code": "not_found",
        "param": None,
    }
    multi = await make_mt_proxy()
    hinted = await (await multi.get("/v1/models")).json()
    assert hinted["error"]["message"] == (
        "Unknown path: in multi-tenant mode, call /users/{user_id}/v1/..."
    )
    assert (await (await multi.get("/v2/models")).json())["error"]["message"] == "Unknown path."
    # A path no route could serve is a 400, not a 404.
    traversal = await static.get("/v2/a%2Fb")
    assert traversal.status == 400
    assert (await traversal.json())["error"]["code"] == "invalid_path"
