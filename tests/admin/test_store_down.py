"""The store frozen (MariaDB behind a relay): cold tenants 503, warm ones served, admin 503."""

from __future__ import annotations

import time

import pytest

from tests.admin.conftest import ADMIN, mysql_database_url
from tests.admin.test_tenants import create
from tests.admin.test_tokens import as_bearer, chat, mint
from tests.conftest import openai_route
from tests.store.test_mysql import FreezableRelay

TIMEOUT_S = 0.5


@pytest.fixture
async def relay(mysql_url):
    from proxy.store.open import migrate_database

    await migrate_database(mysql_url, store_timeout=5)
    relay = FreezableRelay(mysql_url.host, mysql_url.port)
    await relay.start()
    yield relay
    relay.flowing.set()
    await relay.cut()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the relay's URL is used
async def test_store_down(make_store_proxy, upstream, relay, mysql_url):
    url = mysql_database_url(mysql_url).replace(f":{mysql_url.port}/", f":{relay.port}/")
    gateway = await make_store_proxy(DATABASE_URL=url, STORE_TIMEOUT=str(TIMEOUT_S))
    for tenant_id in ("warm", "cold"):
        await create(gateway, tenant_id, {"models": [openai_route(upstream.url)]})
    warm, cold = (await mint(gateway, "warm"))["token"], (await mint(gateway, "cold"))["token"]
    assert (await chat(gateway, "warm", as_bearer(warm))).status == 200
    relay.flowing.clear()  # the database stops answering; connections stay open

    assert (await chat(gateway, "warm", as_bearer(warm))).status == 200  # from cache
    started = time.monotonic()
    cold_resp = await chat(gateway, "cold", as_bearer(cold))
    assert cold_resp.status == 503
    assert (await cold_resp.json())["error"]["type"] == "service_unavailable"
    for method, path in (("GET", "/admin/tenants"), ("POST", "/admin/tenants/warm/tokens")):
        resp = await gateway.request(method, path, json={}, headers=ADMIN)
        assert resp.status == 503, path
    assert time.monotonic() - started < 4 * TIMEOUT_S + 1.0  # each answer within the timeout
    ready = await gateway.get("/readyz")
    assert ready.status == 503 and (await ready.json())["checks"]["store"] != "ok"
    assert (await chat(gateway, "warm", as_bearer(warm))).status == 200  # still served
