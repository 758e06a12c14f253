"""Proxy tokens through the management API and on the request path (SPEC 6, 7.1)."""

from __future__ import annotations

import re

import pytest
from openai import AsyncOpenAI

from tests.admin.conftest import ADMIN
from tests.admin.test_tenants import ISO, create
from tests.conftest import JWT_SECRET, bearer, openai_route

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def mint(client, tenant_id: str, **body) -> dict:
    resp = await client.post(f"/admin/tenants/{tenant_id}/tokens", json=body, headers=ADMIN)
    assert resp.status == 201, await resp.text()
    return await resp.json()


def as_bearer(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


async def chat(client, tenant_id: str, headers: dict[str, str]):
    return await client.post(f"/users/{tenant_id}/v1/chat/completions", json=CHAT, headers=headers)


@pytest.fixture
async def served(gateway, upstream):
    """The gateway with tenants acme and other, both routed to the test upstream."""
    for tenant_id in ("acme", "other"):
        doc = {"models": [openai_route(upstream.url, api_key=f"sk-{tenant_id}-key-000001")]}
        assert (await create(gateway, tenant_id, doc)).status == 201
    return gateway


async def test_mint_shows_the_token_once_and_lists_never_show_it(served):
    minted = await mint(served, "acme", ttl_s=600, name="ci")
    assert set(minted) == {"token_id", "token", "tenant_id", "name", "expires_at"}
    assert re.fullmatch(r"tp-[A-Za-z0-9_-]{43}", minted["token"])  # 32 bytes, no padding
    assert (minted["tenant_id"], minted["name"]) == ("acme", "ci")
    assert ISO.match(minted["expires_at"])
    plain = await mint(served, "acme")
    assert plain["name"] is None
    listed = await (await served.get("/admin/tenants/acme/tokens", headers=ADMIN)).json()
    assert [t["token_id"] for t in listed["data"]] == [minted["token_id"], plain["token_id"]]
    assert listed["next_cursor"] is None
    assert all(t["revoked_at"] is None for t in listed["data"])
    assert minted["token"] not in str(listed)
    assert set(listed["data"][0]) == {
        "token_id",
        "tenant_id",
        "name",
        "created_at",
        "expires_at",
        "revoked_at",
    }


@pytest.mark.parametrize("ttl", [0, -1, 30 * 86400 + 1, "3600", 1.5, True])
async def test_a_ttl_outside_one_second_to_thirty_days_is_refused(served, ttl):
    resp = await served.post("/admin/tenants/acme/tokens", json={"ttl_s": ttl}, headers=ADMIN)
    assert resp.status == 400
    assert (await resp.json())["error"]["param"] == "ttl_s"


async def test_a_minted_token_works_at_once_and_only_for_its_tenant(served, upstream):
    token = (await mint(served, "acme"))["token"]
    resp = await chat(served, "acme", as_bearer(token))
    assert resp.status == 200
    assert upstream.seen[-1].headers["authorization"] == "Bearer sk-acme-key-000001"
    anthropic_style = await chat(served, "acme", {"x-api-key": token})
    assert anthropic_style.status == 200
    other = await chat(served, "other", as_bearer(token))
    assert other.status == 403
    assert (await other.json())["error"]["code"] == "tenant_mismatch"
    for bad in ("tp-" + "A" * 43, "tp-", "nope", token + "x"):
        resp = await chat(served, "acme", as_bearer(bad))
        assert resp.status == 401, bad
        assert (await resp.json())["error"]["code"] == "invalid_token"
    missing = await chat(served, "acme", {})
    assert (await missing.json())["error"]["code"] == "missing_credentials"


async def test_revoke_refuses_the_token_on_the_next_request(served):
    minted = await mint(served, "acme")
    headers = as_bearer(minted["token"])
    assert (await chat(served, "acme", headers)).status == 200  # now cached
    path = f"/admin/tenants/acme/tokens/{minted['token_id']}"
    assert (await served.delete(path, headers=ADMIN)).status == 204
    refused = await chat(served, "acme", headers)
    assert refused.status == 401
    assert (await refused.json())["error"]["code"] == "invalid_token"
    listed = await (await served.get("/admin/tenants/acme/tokens", headers=ADMIN)).json()
    assert ISO.match(listed["data"][0]["revoked_at"])
    assert (await served.delete(path, headers=ADMIN)).status == 204  # idempotent
    unknown = await served.delete("/admin/tenants/acme/tokens/tok_000000000000", headers=ADMIN)
    assert unknown.status == 404
    foreign = await served.delete(
        f"/admin/tenants/other/tokens/{minted['token_id']}", headers=ADMIN
    )
    assert foreign.status == 404  # a token is revoked through its own tenant only


async def test_deleting_a_tenant_revokes_its_tokens(served):
    token = (await mint(served, "acme"))["token"]
    assert (await chat(served, "acme", as_bearer(token))).status == 200
    assert (await served.delete("/admin/tenants/acme", headers=ADMIN)).status == 204
    refused = await chat(served, "acme", as_bearer(token))
    assert refused.status == 401
    assert (await refused.json())["error"]["code"] == "invalid_token"
    assert (await create(served, "acme")).status == 201
    again = await chat(served, "acme", as_bearer(token))
    assert again.status == 401  # a new tenant of the same id does not revive old tokens


async def test_a_patch_takes_effect_on_the_next_request(served, upstream):
    token = (await mint(served, "acme"))["token"]
    assert (await chat(served, "acme", as_bearer(token))).status == 200
    resp = await served.patch(
        "/admin/tenants/acme", json={"allowed_models": ["something-else"]}, headers=ADMIN
    )
    assert resp.status == 200
    refused = await chat(served, "acme", as_bearer(token))
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "model_not_allowed"


async def test_a_tenant_created_after_a_404_is_served_at_once(gateway, upstream):
    ghost = await gateway.post("/users/late/v1/chat/completions", json=CHAT, headers=ADMIN)
    assert ghost.status == 401  # no token: authenticated before the config is looked up
    await create(gateway, "late", {"models": [openai_route(upstream.url)]})
    token = (await mint(gateway, "late"))["token"]
    assert (await chat(gateway, "late", as_bearer(token))).status == 200


async def test_jwts_still_work_when_configured(make_store_proxy, upstream):
    client = await make_store_proxy(AUTH_JWT_SECRET=JWT_SECRET)
    await create(client, "acme", {"models": [openai_route(upstream.url)]})
    assert (await chat(client, "acme", bearer("acme"))).status == 200
    assert (await chat(client, "acme", bearer("other"))).status == 403
    token = (await mint(client, "acme"))["token"]
    assert (await chat(client, "acme", as_bearer(token))).status == 200


async def test_the_openai_sdk_with_a_minted_token(served):
    token = (await mint(served, "acme"))["token"]
    client = AsyncOpenAI(
        base_url=str(served.make_url("/users/acme/v1")), api_key=token, max_retries=0
    )
    async with client:
        answer = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content == "Hi from upstream"
        models = await client.models.list()
        assert [m.id for m in models.data] == ["gpt-4o-mini"]
