"""The admin API: its key, its errors, and a disabled API without a key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from aiohttp import web

from proxy import keys
from proxy.app import create_app
from proxy.settings import Settings
from tests.conftest import bearer


async def test_admin_key_is_required(make_mt_proxy):
    client = await make_mt_proxy()
    missing = await client.delete("/admin/cache/users/u1")
    assert missing.status == 401
    assert (await missing.json())["error"]["type"] == "authentication_error"
    wrong = await client.delete("/admin/cache/users/u1", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    user_token = await client.delete("/admin/cache/users/u1", headers=bearer("u1"))
    assert user_token.status == 401  # a tenant's token is not an admin key
    ok = await client.delete(
        "/admin/cache/users/u1", headers={"Authorization": "Bearer admin-key-for-tests"}
    )
    assert ok.status == 204
    bad_id = await client.delete(
        "/admin/cache/users/..x", headers={"Authorization": "Bearer admin-key-for-tests"}
    )
    assert bad_id.status == 400
    unknown = await client.get(
        "/admin/nothing-here", headers={"Authorization": "Bearer admin-key-for-tests"}
    )
    assert unknown.status == 404
    assert (await unknown.json())["error"]["code"] == "not_found"


async def test_without_an_admin_key_the_admin_api_does_not_exist(make_mt_proxy):
    client = await make_mt_proxy(PROXY_ADMIN_KEY="")
    resp = await client.delete(
        "/admin/cache/users/u1", headers={"Authorization": "Bearer admin-key-for-tests"}
    )
    assert resp.status == 404


async def test_an_exception_in_an_admin_handler_answers_json(aiohttp_client, mt_env, caplog):
    class ExplodingChanges:  # the invalidation handler's collaborator (keys.CHANGES)
        async def invalidate(self, user_id: str) -> None:
            raise RuntimeError("invalidate exploded")

    async def install(app: web.Application) -> AsyncIterator[None]:
        app[keys.CHANGES] = ExplodingChanges()
        yield

    app = await create_app(Settings.from_env(mt_env))
    app.cleanup_ctx.append(install)  # after the multi-tenant context set the real one
    client = await aiohttp_client(app)
    resp = await client.delete(
        "/admin/cache/users/u1", headers={"Authorization": "Bearer admin-key-for-tests"}
    )
    assert resp.status == 500
    assert resp.headers["Content-Type"].startswith("application/json")
    error = (await resp.json())["error"]
    assert (error["type"], error["code"]) == ("server_error", "internal_error")
    assert "invalidate exploded" in caplog.text


async def test_an_admin_key_that_is_not_utf8_is_a_401(make_mt_proxy):
    client = await make_mt_proxy()
    host, port = str(client.make_url("")).removeprefix("http://").rstrip("/").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"DELETE /admin/cache/users/bob HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer admin-key-for-tests\xff\r\n\r\n"
    )
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 ")
    assert orjson.loads(body)["error"]["type"] == "authentication_error"


def test_the_admin_sub_apps_have_no_middleware():
    """A sub-app's middleware makes aiohttp run the middleware chain for every request
    of the gateway, the proxied ones too (admin.routing): their handlers are wrapped
    instead."""
    from proxy.admin.app import create_admin_app
    from proxy.admin.ui import create_ui_app

    assert not create_admin_app("k", store=True).middlewares
    assert not create_ui_app().middlewares


async def test_unknown_paths_and_methods_are_json_behind_the_key(gateway):
    from tests.admin.conftest import ADMIN

    for method, path, status, code in (
        ("PUT", "/admin/tenants", 405, "method_not_allowed"),
        ("POST", "/admin/tenants/acme/usage", 405, "method_not_allowed"),
        ("GET", "/admin", 404, "not_found"),
        ("GET", "/admin/", 404, "not_found"),
        ("DELETE", "/admin/tenants/acme/tokens/t/x", 404, "not_found"),
    ):
        anonymous = await gateway.request(method, path)
        assert anonymous.status == 401, (method, path)
        answer = await gateway.request(method, path, headers=ADMIN)
        assert answer.status == status, (method, path)
        assert (await answer.json())["error"]["code"] == code
        assert answer.headers["x-request-id"]
    ui = await gateway.put("/admin/ui/index.html")
    assert ui.status == 405 and "Content-Security-Policy" in ui.headers
