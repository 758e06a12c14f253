"""The TenantStore contract: the same tests on SQLite and on the local MariaDB."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from proxy.errors import (
    EncryptionNotConfiguredError,
    InvalidRequestError,
    InvalidUserIdError,
    TenantChangedError,
    TenantExistsError,
)
from proxy.store.open import migrate_database, open_store
from tests.store.conftest import ring

NASTY = [
    "'; DROP TABLE tenants; --",
    "100%_off \\ back\\slash",
    '"double" and `back` quotes',
    "unicode: é ü 中文 🎉 \u202e",
    "%",
    "_",
    "\\",
    "'",
    "  spaced  ",
]


def doc(key: str = "sk-test-key-000000001", **extra):
    return {
        "models": [
            {"model_name": "gpt", "provider": "openai", "api_base": "https://x", "api_key": key}
        ],
        **extra,
    }


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def test_create_get_and_timestamps(store):
    row = await store.create_tenant("acme", doc(budget={"monthly_usd": 5.0}))
    assert row.tenant_id == "acme" and row.version == 1
    assert row.document == doc(budget={"monthly_usd": 5.0})
    assert row.created_at == row.updated_at > 0
    assert await store.get_tenant("acme") == row
    assert await store.get_tenant("nobody") is None
    assert await store.get_tenant("bad id!") is None


async def test_ids_differ_by_case_and_sort_bytewise(store):
    for tid in ("b", "B", "a.b", "a_b", "a-b", "A"):
        await store.create_tenant(tid, {})
    page = await store.list_tenants()
    assert [r.tenant_id for r in page.rows] == sorted(["b", "B", "a.b", "a_b", "a-b", "A"])


async def test_duplicate_create_is_tenant_exists(store):
    await store.create_tenant("acme", {})
    with pytest.raises(TenantExistsError) as e:
        await store.create_tenant("acme", doc())
    assert (e.value.status, e.value.code) == (409, "tenant_exists")
    assert (await store.get_tenant("acme")).document == {}


async def test_twenty_concurrent_creates_of_one_id_have_one_winner(store):
    results = await asyncio.gather(
        *(store.create_tenant("race", {"n": i}) for i in range(20)), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, TenantExistsError) for r in results if r not in winners)
    assert (await store.get_tenant("race")).document == winners[0].document


async def test_bad_input_is_refused_and_writes_nothing(store):
    for bad in ("", "-a", "a" * 129, "a b", "a/b", "a'b", "é"):
        with pytest.raises(InvalidUserIdError):
            await store.create_tenant(bad, {})
    with pytest.raises(InvalidRequestError):
        await store.create_tenant("acme", ["not", "an", "object"])  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError) as e:
        await store.create_tenant("acme", {"models": [{"api_key": ["sk-in-a-list"]}]})
    assert e.value.param == "models[0].api_key"
    with pytest.raises(InvalidRequestError):
        await store.create_tenant("acme", {"big": "x" * (1024 * 1024 + 1)})
    assert await store.count_tenants() == 0


async def test_sql_metacharacters_round_trip_in_every_field(store):
    document = doc(key="sk-" + "".join(NASTY), **{s: s for s in NASTY})
    document["models"][0]["model_name"] = NASTY[0]
    document["default"] = {"provider": "mock", "api_key": NASTY[1], "note": NASTY}
    row = await store.create_tenant("a_b.c-d", document)
    assert row.document == document
    assert (await store.get_tenant("a_b.c-d")).document == document
    assert (await store.list_tenants()).rows[0].document == document
    for i, name in enumerate(NASTY):
        token = await store.add_token("a_b.c-d", digest=digest(str(i)), name=name, expires_at=9e9)
        assert token is not None and token.name == name
    assert sorted(t.name for t in (await store.list_tokens("a_b.c-d")).rows) == sorted(NASTY)
    # LIKE wildcards in an id match only themselves.
    await store.create_tenant("aXb.c-d", {})
    assert (await store.get_tenant("a_b.c-d")).document == document


async def test_cursor_walk_returns_each_tenant_once_in_order(store):
    ids = [f"t{i:04d}" for i in range(250)]
    for tid in reversed(ids):
        await store.create_tenant(tid, {"i": tid})
    seen, cursor, pages = [], None, 0
    while True:
        page = await store.list_tenants(limit=100, cursor=cursor)
        seen += [r.tenant_id for r in page.rows]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids and pages == 3
    exact = await store.list_tenants(limit=250)
    assert len(exact.rows) == 250 and exact.next_cursor is None
    assert await store.count_tenants() == 250


async def test_list_limits_and_cursors_are_checked(store):
    assert (await store.list_tenants()).rows == []
    for limit in (0, 1001, -1):
        with pytest.raises(InvalidRequestError) as e:
            await store.list_tenants(limit=limit)
        assert e.value.param == "limit"
    for cursor in ("", "garbage", "c1.!!!", "c1.Jyc7IERST1A"):  # the last: "'; DROP"
        with pytest.raises(InvalidRequestError) as e:
            await store.list_tenants(cursor=cursor)
        assert e.value.param == "cursor"
    assert (await store.list_tenants(limit=1000)).next_cursor is None


async def test_replace_writes_bumps_version_and_detects_a_lost_update(store):
    created = await store.create_tenant("acme", doc())
    row = await store.replace_tenant("acme", {"limits": {"rpm": 5}}, expected_version=1)
    assert row.document == {"limits": {"rpm": 5}} and row.version == 2
    assert row.created_at == created.created_at and row.updated_at >= created.updated_at
    assert await store.get_tenant("acme") == row
    with pytest.raises(TenantChangedError) as e:
        await store.replace_tenant("acme", {"stale": True}, expected_version=1)
    assert (e.value.status, e.value.code) == (409, "tenant_changed")
    assert (await store.get_tenant("acme")).document == {"limits": {"rpm": 5}}
    assert await store.replace_tenant("ghost", {}, expected_version=1) is None


async def test_concurrent_patches_exactly_one_wins_per_version(store):
    await store.create_tenant("acme", {})
    results = await asyncio.gather(
        *(store.replace_tenant("acme", {"n": i}, expected_version=1) for i in range(10)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert (await store.get_tenant("acme")).version == 2


async def test_delete_revokes_tokens_and_keeps_nothing_else(store):
    await store.create_tenant("acme", doc())
    await store.create_tenant("other", {})
    token = await store.add_token("acme", digest=digest("tp-1"), name="ci", expires_at=9e9)
    other = await store.add_token("other", digest=digest("tp-2"), name="ci", expires_at=9e9)
    assert await store.delete_tenant("acme") is True
    assert await store.delete_tenant("acme") is False
    assert await store.get_tenant("acme") is None
    found = await store.find_token(digest("tp-1"))
    assert found.token_id == token.token_id and found.revoked_at is not None
    assert not found.is_active(0)
    assert (await store.find_token(digest("tp-2"))) == other  # untouched
    # A new tenant with the same id does not bring old tokens back.
    await store.create_tenant("acme", {})
    assert (await store.find_token(digest("tp-1"))).revoked_at == found.revoked_at


async def test_tokens_minted_in_one_millisecond_or_after_a_clock_step_list_in_mint_order(
    store_url,
):
    """A token list is oldest first (its ids start with the mint time); mints that share
    a millisecond, or follow a clock stepped back, still list in the order they were made."""
    await migrate_database(store_url, store_timeout=5)
    now = [1_800_000_000.0]
    opened = await open_store(store_url, ring("new"), store_timeout=5, clock=lambda: now[0])
    try:
        await opened.create_tenant("acme", {})
        minted = []
        for step in (0, 0, 0, -5, 0, 10):
            now[0] += step
            token = await opened.add_token(
                "acme", digest=digest(f"tp-{len(minted)}"), name="", expires_at=2e9
            )
            minted.append(token.token_id)
        listed = await opened.list_tokens("acme")
        assert [t.token_id for t in listed.rows] == minted
    finally:
        await opened.close()


async def test_tokens_add_find_list_revoke(store):
    await store.create_tenant("acme", {})
    assert await store.add_token("ghost", digest=digest("x"), name="", expires_at=1) is None
    added = [
        await store.add_token("acme", digest=digest(f"tp-{i}"), name=f"n{i}", expires_at=2e9 + i)
        for i in range(5)
    ]
    t = added[0]
    assert t.tenant_id == "acme" and t.token_id.startswith("tok_")
    assert (t.expires_at, t.revoked_at, t.digest) == (2e9, None, digest("tp-0"))
    assert t.is_active(t.created_at) and not t.is_active(2e9)
    assert await store.find_token(digest("tp-0")) == t
    assert await store.find_token(digest("nope")) is None
    assert await store.find_token("not-hex") is None
    first = await store.list_tokens("acme", limit=3)
    rest = await store.list_tokens("acme", limit=3, cursor=first.next_cursor)
    # By token_id, which starts with the creation time in milliseconds.
    assert list(first.rows) + list(rest.rows) == sorted(added, key=lambda t: t.token_id)
    assert rest.next_cursor is None
    assert await store.revoke_token("other", t.token_id) is False
    assert await store.revoke_token("acme", "tok_000000000000ffff") is False
    assert await store.revoke_token("acme", t.token_id) is True
    revoked = await store.find_token(digest("tp-0"))
    assert revoked.revoked_at is not None
    assert await store.revoke_token("acme", t.token_id) is True  # again: still revoked, same time
    assert (await store.find_token(digest("tp-0"))).revoked_at == revoked.revoked_at
    assert (await store.list_tokens("nobody")).rows == []


async def test_timestamps_come_from_the_clock(store_url):
    from proxy.store.open import migrate_database

    now = [1_700_000_000.123]
    await migrate_database(store_url, store_timeout=5)
    store = await open_store(store_url, ring("new"), store_timeout=5, clock=lambda: now[0])
    try:
        row = await store.create_tenant("acme", {})
        assert (row.created_at, row.updated_at) == (1_700_000_000.123, 1_700_000_000.123)
        now[0] += 60
        row = await store.replace_tenant("acme", {"x": 1}, expected_version=1)
        assert (row.created_at, row.updated_at) == (1_700_000_000.123, 1_700_000_060.123)
        assert await store.get_tenant("acme") == row
    finally:
        await store.close()


async def test_an_api_key_without_a_key_ring_is_refused(store_url):
    from proxy.store.open import migrate_database

    await migrate_database(store_url, store_timeout=5)
    store = await open_store(store_url, None, store_timeout=5)
    try:
        with pytest.raises(EncryptionNotConfiguredError) as e:
            await store.create_tenant("acme", doc())
        assert e.value.param == "models[0].api_key" and "PROXY_ENCRYPTION_KEY" in e.value.message
        assert await store.get_tenant("acme") is None
        row = await store.create_tenant("keyless", {"default": {"provider": "mock"}})
        assert (await store.get_tenant("keyless")) == row
    finally:
        await store.close()


async def test_ping(store):
    await store.ping()
