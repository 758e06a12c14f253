"""Upstream keys at rest: never in any column or database file, opened on read; `keys rotate`."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest

from proxy.database_url import SQLiteURL
from proxy.errors import SealedKeyError
from proxy.store.open import open_store
from tests.store.conftest import CANARY, all_cells, fill_under_old, mysql_admin, ring


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [
        raw,
        raw.hex().encode(),
        raw.hex().upper().encode(),
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
    ]


def _files(url: SQLiteURL) -> list[Path]:
    base = Path(url.path)
    return [
        p
        for p in (base, Path(f"{base}-wal"), Path(f"{base}-journal"), Path(f"{base}-shm"))
        if p.exists()
    ]


async def test_a_canary_key_is_never_stored_in_any_form(store, store_url):
    doc = {
        "models": [
            {"model_name": "m", "provider": "openai", "api_base": "https://x", "api_key": CANARY}
        ],
        "default": {"provider": "openai", "api_key": CANARY},
    }
    await store.create_tenant("canary", doc)
    await store.replace_tenant("canary", doc, expected_version=1)
    await store.create_tenant("other", {"models": [{"api_key": CANARY + "-2"}]})
    assert (await store.get_tenant("canary")).document == doc
    cells = "\n".join(all_cells(store_url)).encode()
    assert b"enc:v1:new:" in cells
    for form in _forms(CANARY):
        assert form not in cells
    if isinstance(store_url, SQLiteURL):
        files = _files(store_url)
        assert Path(f"{store_url.path}-wal") in files  # WAL mode, and the WAL holds the rows
        for path in files:
            data = path.read_bytes()
            for form in _forms(CANARY):
                assert form not in data, path.name


async def test_a_value_copied_to_another_tenant_does_not_open(store, store_url):
    await store.create_tenant("a", {"default": {"api_key": CANARY}})
    await store.create_tenant("b", {"default": {"provider": "mock"}})
    sealed = (await store.stored_tenant("a")).document
    if isinstance(store_url, SQLiteURL):
        with sqlite3.connect(store_url.path) as conn:
            conn.execute("UPDATE tenants SET document = ? WHERE tenant_id = 'b'", (sealed,))
    else:
        mysql_admin(
            f"UPDATE tenants SET document = '{sealed}' WHERE tenant_id = 'b'", store_url.database
        )
    with pytest.raises(SealedKeyError) as e:
        await store.get_tenant("b")
    assert (e.value.status, e.value.code, e.value.key_id) == (500, "internal_error", "new")
    assert CANARY not in e.value.message and "new" not in e.value.message


async def test_a_key_id_removed_from_the_ring_is_named_and_never_opened(store_url, store):
    await store.create_tenant("acme", {"models": [{"api_key": CANARY}]})
    only_new = await open_store(store_url, ring("old"), store_timeout=5)
    try:
        with pytest.raises(SealedKeyError) as e:
            await only_new.get_tenant("acme")
        assert e.value.key_id == "new" and e.value.tenant_id == "acme"
        assert "not in the key ring" in e.value.reason
        with pytest.raises(SealedKeyError):
            await only_new.list_tenants()
    finally:
        await only_new.close()
    keyless = await open_store(store_url, None, store_timeout=5)
    try:
        with pytest.raises(SealedKeyError) as e:
            await keyless.get_tenant("acme")
        assert e.value.key_id == "new"
    finally:
        await keyless.close()


def test_keys_rotate_command(tmp_path, store_url):
    import asyncio
    import os
    import subprocess
    import sys

    asyncio.run(_fill_under_old_sync_url(store_url))
    url = (
        f"sqlite:///{store_url.path}"
        if isinstance(store_url, SQLiteURL)
        else f"mysql://root@{store_url.host}:{store_url.port}/{store_url.database}"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PROXY_ENCRYPTION_KEYS": f"new:{base64.b64encode(b'n' * 32).decode()},old:{base64.b64encode(b'o' * 32).decode()}",
    }
    env.pop("PROXY_ENCRYPTION_KEY", None)
    bin_ = str(Path(sys.executable).with_name("tenant-proxy"))
    done = subprocess.run(
        [bin_, "keys", "rotate"], capture_output=True, text=True, env=env, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[-1] == (
        "keys rotate: 4/4 tenants checked, 3 re-sealed, 0 under keys not in the ring; "
        "every readable key is under 'new'"
    )
    env["PROXY_ENCRYPTION_KEYS"] = f"third:{base64.b64encode(b't' * 32).decode()}"
    failed = subprocess.run(
        [bin_, "keys", "rotate"], capture_output=True, text=True, env=env, timeout=60
    )
    assert failed.returncode == 1
    assert failed.stderr.count("which is not in the key ring: left as is") == 3
    assert "Traceback" not in failed.stderr


async def _fill_under_old_sync_url(url) -> None:
    from proxy.store.open import migrate_database

    await migrate_database(url, store_timeout=5)
    await fill_under_old(url, 3)
