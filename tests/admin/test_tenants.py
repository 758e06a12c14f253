"""/admin/tenants on SQLite and MariaDB: SPEC 7.1's shapes, errors, merge patch, pages, races."""

from __future__ import annotations

import asyncio
import io
import re

import orjson

from tests.admin.conftest import ADMIN
from tests.conftest import openai_route

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def document(url: str = "https://api.openai.com", key: str = "sk-tenant-key-0001", **extra):
    return {"models": [openai_route(url, api_key=key)], **extra}


async def create(client, tenant_id: str, doc: dict | None = None):
    return await client.post(
        "/admin/tenants", json={"tenant_id": tenant_id, **(doc or document())}, headers=ADMIN
    )


async def test_create_show_and_list_in_the_spec_shapes(gateway):
    resp = await create(gateway, "acme", document(budget={"monthly_usd": 5}, note="kept"))
    assert resp.status == 201
    body = await resp.json()
    assert body["tenant_id"] == "acme"
    assert body["models"][0]["api_key"] == "sk-...0001"  # masked, never the key
    assert body["budget"] == {"monthly_usd": 5}
    assert body["note"] == "kept"  # unknown fields are kept (and ignored by routing)
    assert ISO.match(body["created_at"]) and ISO.match(body["updated_at"])
    assert "limits" not in body  # fields never set are absent
    shown = await gateway.get("/admin/tenants/acme", headers=ADMIN)
    assert shown.status == 200 and await shown.json() == body
    listed = await (await gateway.get("/admin/tenants", headers=ADMIN)).json()
    assert listed == {"data": [body], "next_cursor": None}


async def test_create_refusals_name_the_field(gateway):
    again = await create(gateway, "acme")
    assert again.status == 201
    exists = await create(gateway, "acme")
    assert exists.status == 409
    assert (await exists.json())["error"]["code"] == "tenant_exists"
    cases = [
        ({"tenant_id": "../x", **document()}, "tenant_id"),
        ({"tenant_id": "a" * 129, **document()}, "tenant_id"),
        ({"tenant_id": 7, **document()}, "tenant_id"),
        (document(), "tenant_id"),
        ({"tenant_id": "t1", **document(budget={"monthly_usd": -1})}, "budget.monthly_usd"),
        ({"tenant_id": "t1", "limits": {"rpm": -5}}, "limits.rpm"),
        ({"tenant_id": "t1", "models": [{"model_name": "m", "provider": "openai"}]}, None),
        ({"tenant_id": "t1", "models": "nope"}, "models"),
    ]
    for body, param in cases:
        resp = await gateway.post("/admin/tenants", json=body, headers=ADMIN)
        error = (await resp.json())["error"]
        assert resp.status == 400, body
        assert error["type"] == "invalid_request_error"
        assert error["code"] == "invalid_config"
        if param is not None:
            assert error["param"] == param and param in error["message"]
        else:
            assert error["param"] == "models[0].api_base"
    not_object = await gateway.post("/admin/tenants", json=[1, 2], headers=ADMIN)
    assert not_object.status == 400
    assert (await not_object.json())["error"]["code"] == "invalid_config"
    not_json = await gateway.post("/admin/tenants", data=b"{nope", headers=ADMIN)
    assert not_json.status == 400
    assert (await not_json.json())["error"]["code"] == "invalid_json"
    huge = orjson.dumps({"tenant_id": "big", "pad": "x" * (1024 * 1024)})
    too_large = await gateway.post("/admin/tenants", data=io.BytesIO(huge), headers=ADMIN)
    assert too_large.status == 413
    assert (await too_large.json())["error"]["code"] == "request_too_large"
    listed = await (await gateway.get("/admin/tenants", headers=ADMIN)).json()
    assert [t["tenant_id"] for t in listed["data"]] == ["acme"]  # nothing half-made


async def test_unknown_tenants_are_404_not_found(gateway):
    for method, path in (
        ("GET", "/admin/tenants/ghost"),
        ("PATCH", "/admin/tenants/ghost"),
        ("DELETE", "/admin/tenants/ghost"),
        ("POST", "/admin/tenants/ghost/tokens"),
        ("GET", "/admin/tenants/ghost/tokens"),
        ("DELETE", "/admin/tenants/ghost/tokens/tok_0123456789ab"),
    ):
        resp = await gateway.request(method, path, json={}, headers=ADMIN)
        assert resp.status == 404, (method, path)
        error = (await resp.json())["error"]
        assert (error["type"], error["code"]) == ("not_found_error", "not_found")


async def test_merge_patch_merges_removes_and_validates(gateway):
    await create(gateway, "acme", document(budget={"monthly_usd": 5}, limits={"rpm": 10}))
    resp = await gateway.patch(
        "/admin/tenants/acme",
        json={"limits": {"tpm": 1000}, "budget": None, "allowed_models": ["gpt-4o-mini"]},
        headers=ADMIN,
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["limits"] == {"rpm": 10, "tpm": 1000}  # objects merge member by member
    assert "budget" not in body  # null removes
    assert body["allowed_models"] == ["gpt-4o-mini"]  # arrays replace
    bad = await gateway.patch("/admin/tenants/acme", json={"limits": {"rpm": -1}}, headers=ADMIN)
    assert bad.status == 400
    assert (await bad.json())["error"]["param"] == "limits.rpm"
    renamed = await gateway.patch("/admin/tenants/acme", json={"tenant_id": "other"}, headers=ADMIN)
    assert renamed.status == 400
    assert (await renamed.json())["error"]["param"] == "tenant_id"
    after = await (await gateway.get("/admin/tenants/acme", headers=ADMIN)).json()
    assert after == body  # refused patches changed nothing


async def test_a_document_read_edited_and_written_back_keeps_its_keys(gateway):
    doc = {
        "models": [
            openai_route("https://a.example", "m1", api_key="sk-first-key-000000001"),
            openai_route("https://b.example", "m2", api_key="sk-second-key-00000002"),
        ],
        "default": {"provider": "openai", "api_base": "https://c.example", "api_key": "short"},
    }
    await create(gateway, "acme", doc)
    shown = await (await gateway.get("/admin/tenants/acme", headers=ADMIN)).json()
    assert [m["api_key"] for m in shown["models"]] == ["sk-...0001", "sk-...0002"]
    assert shown["default"]["api_key"] == "..."
    # Edited: the routes swapped order, m2 got a new key, a timeout was added.
    shown["models"] = [shown["models"][1], shown["models"][0]]
    shown["models"][0]["api_key"] = "sk-brand-new-key-000003"
    shown["models"][1]["timeout_s"] = 30
    resp = await gateway.patch("/admin/tenants/acme", json=shown, headers=ADMIN)
    assert resp.status == 200
    plain = await (await gateway.get("/users/acme/config", headers=ADMIN)).json()
    keys = {m["model_name"]: m["api_key"] for m in plain["models"]}
    assert keys == {"m1": "sk-first-key-000000001", "m2": "sk-brand-new-key-000003"}
    assert plain["default"]["api_key"] == "short"
    assert plain["models"][1]["timeout_s"] == 30
    assert "created_at" not in plain and "tenant_id" not in plain  # output fields not stored


async def test_concurrent_patches_all_land(gateway):
    await create(gateway, "acme")
    patches = [
        gateway.patch("/admin/tenants/acme", json={f"field{i}": i}, headers=ADMIN)
        for i in range(10)
    ]
    assert {r.status for r in await asyncio.gather(*patches)} == {200}
    body = await (await gateway.get("/admin/tenants/acme", headers=ADMIN)).json()
    assert all(body[f"field{i}"] == i for i in range(10))


async def test_twenty_concurrent_creates_of_one_id_have_one_winner(gateway):
    results = await asyncio.gather(*(create(gateway, "race") for _ in range(20)))
    statuses = sorted(r.status for r in results)
    assert statuses == [201] + [409] * 19


async def test_pages_of_250_tenants(gateway):
    ids = [f"t{i:04d}" for i in range(250)]
    for tenant_id in ids:
        assert (await create(gateway, tenant_id, {})).status == 201
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        page = await (await gateway.get("/admin/tenants", params=query, headers=ADMIN)).json()
        seen += [t["tenant_id"] for t in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3
    default = await (await gateway.get("/admin/tenants", headers=ADMIN)).json()
    assert len(default["data"]) == 100  # limit defaults to 100
    for bad in ({"limit": "1001"}, {"limit": "0"}, {"limit": "x"}, {"cursor": "nope"}):
        resp = await gateway.get("/admin/tenants", params=bad, headers=ADMIN)
        assert resp.status == 400, bad
        assert (await resp.json())["error"]["param"] == next(iter(bad))


async def test_sql_metacharacters_are_plain_data_everywhere(gateway):
    evil = "x'; DROP TABLE tenants; -- \" \\ % _ `"
    doc = {
        "models": [
            openai_route(
                "https://api.example/o'r?q=1;--", evil, api_key="sk-" + evil, upstream_model=evil
            )
        ],
        evil: evil,
    }
    created = await create(gateway, "o.r-1_2", doc)
    assert created.status == 201
    body = await created.json()
    assert body[evil] == evil and body["models"][0]["model_name"] == evil
    plain = await (await gateway.get("/users/o.r-1_2/config", headers=ADMIN)).json()
    assert plain == doc
    minted = await gateway.post("/admin/tenants/o.r-1_2/tokens", json={"name": evil}, headers=ADMIN)
    assert minted.status == 201 and (await minted.json())["name"] == evil
    for path in ("/admin/tenants/x'%20OR%20'1'='1", "/admin/tenants/%25", "/admin/tenants/_"):
        resp = await gateway.get(path, headers=ADMIN)
        assert resp.status in (400, 404), path
    listed = await (await gateway.get("/admin/tenants", headers=ADMIN)).json()
    assert [t["tenant_id"] for t in listed["data"]] == ["o.r-1_2"]


async def test_delete_keeps_nothing_but_is_final(gateway):
    await create(gateway, "acme")
    assert (await gateway.delete("/admin/tenants/acme", headers=ADMIN)).status == 204
    assert (await gateway.get("/admin/tenants/acme", headers=ADMIN)).status == 404
    assert (await gateway.delete("/admin/tenants/acme", headers=ADMIN)).status == 404
    assert (await create(gateway, "acme")).status == 201  # the id can be used again


async def test_admin_key_is_required_everywhere(gateway):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = await gateway.get("/admin/tenants", headers=headers)
        assert resp.status == 401
        resp = await gateway.post("/admin/tenants", json={"tenant_id": "x"}, headers=headers)
        assert resp.status == 401
    assert (await gateway.get("/admin/tenants", headers=ADMIN)).status == 200
