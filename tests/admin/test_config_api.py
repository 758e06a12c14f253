"""GET /users/{id}/config: the store as a Config API, and two gateways chained through it."""

from __future__ import annotations

from tests.admin.conftest import ADMIN
from tests.admin.test_tenants import create
from tests.conftest import bearer, openai_route

CHAIN_KEY = "config-api-key-for-chaining"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def test_the_config_api_contract(make_store_proxy, upstream):
    gateway = await make_store_proxy(CONFIG_API_KEY=CHAIN_KEY)
    doc = {"models": [openai_route(upstream.url, api_key="sk-plain-for-config-api")]}
    await create(gateway, "acme", doc)
    for headers in (ADMIN, {"Authorization": "Bearer " + CHAIN_KEY}, {"x-api-key": CHAIN_KEY}):
        resp = await gateway.get("/users/acme/config", headers=headers)
        assert resp.status == 200
        assert await resp.json() == doc  # keys in plain text: it is the Config API contract
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = await gateway.get("/users/acme/config", headers=headers)
        assert resp.status == 401
    missing = await gateway.get("/users/ghost/config", headers=ADMIN)
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "config_not_found"
    bad = await gateway.get("/users/..%2f/config", headers=ADMIN)
    assert bad.status == 400


async def test_without_an_admin_key_there_is_no_management_api(make_store_proxy):
    gateway = await make_store_proxy(PROXY_ADMIN_KEY="")
    assert (await gateway.get("/admin/tenants", headers=ADMIN)).status == 404
    config = await gateway.get("/users/acme/config", headers=ADMIN)
    assert config.status == 404  # not the Config API: a /users/ path outside /v1/


async def test_two_gateways_chained(make_store_proxy, make_mt_proxy, upstream):
    """Gateway B (Config-API mode) takes its tenants from gateway A's store."""
    a = await make_store_proxy(CONFIG_API_KEY=CHAIN_KEY)
    doc = {"models": [openai_route(upstream.url, api_key="sk-from-gateway-a-0001")]}
    await create(a, "acme", doc)
    b = await make_mt_proxy(
        CONFIG_API_URL=str(a.make_url("")).rstrip("/"), CONFIG_API_KEY=CHAIN_KEY
    )
    resp = await b.post("/users/acme/v1/chat/completions", json=CHAT, headers=bearer("acme"))
    assert resp.status == 200
    assert upstream.seen[-1].headers["authorization"] == "Bearer sk-from-gateway-a-0001"
    ghost = await b.post("/users/ghost/v1/chat/completions", json=CHAT, headers=bearer("ghost"))
    assert ghost.status == 404
    assert (await ghost.json())["error"]["code"] == "config_not_found"
    ready = await b.get("/readyz")
    assert ready.status == 200


async def test_beside_it_every_users_path_is_the_proxys(make_store_proxy):
    """The proxy route is tried first on /users/... (a proxied request never tries the
    config route's pattern); GET /users/{id}/config is still the Config API, and other
    methods and look-alike paths get what the proxy says of them, as before."""
    gateway = await make_store_proxy()
    canonical = [r.canonical for r in gateway.server.app.router.resources()]
    assert canonical.index("/users/{tail}") < canonical.index("/users/{user_id}/config")
    unknown = "Unknown path: use /users/{user_id}/v1/..."
    for method, path, status, message in (
        ("POST", "/users/acme/config", 404, unknown),
        ("DELETE", "/users/acme/config", 404, unknown),
        ("GET", "/users/acme/config/x", 404, unknown),
        ("GET", "/users/a/b/config", 404, unknown),
        ("GET", "/users/acme/config%0A", 400, "Control characters are not allowed in the path."),
        ("GET", "/users/acme/v1/models", 401, "Invalid token."),
        ("GET", "/users/ghost/config", 404, "No configuration exists for this user."),
    ):
        resp = await gateway.request(method, path, headers=ADMIN)
        error = (await resp.json())["error"]
        assert (resp.status, error["message"]) == (status, message), (method, path)
