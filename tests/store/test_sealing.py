"""Upstream keys at rest: never in any column or database file, opened on read, rotated."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest

from proxy.database_url import SQLiteURL
from proxy.errors import SealedKeyError
from proxy.store.open import open_store
from proxy.store.rotation import rotate_keys
from tests.store.conftest import mysql_admin, ring

CANARY = "sk-canary-7c1e9b2f4d6a8e0c3b5d7f9a1c3e5b7d"


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


def _all_cells(url) -> list[str]:
    """Every value of every column of every table, as text."""
    if isinstance(url, SQLiteURL):
        with sqlite3.connect(url.path) as conn:
            tables = [
                t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            rows = [r for t in tables for r in conn.execute(f"SELECT * FROM {t}")]
    else:
        tables = [t for (t,) in mysql_admin("SHOW TABLES", url.database)]
        rows = [r for t in tables for r in mysql_admin(f"SELECT * FROM {t}", url.database)]
    assert {"tenants", "tokens", "schema_version"} <= set(tables)
    return [str(v) for row in rows for v in row]


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
    cells = "\n".join(_all_cells(store_url)).encode()
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


async def _fill_under_old(url, count: int) -> None:
    old = await open_store(url, ring("old"), store_timeout=5)
    try:
        for i in range(count):
            await old.create_tenant(
                f"t{i:03d}",
                {"models": [{"api_key": f"{CANARY}-{i}"}], "default": {"api_key": f"d-{i}"}},
            )
        await old.create_tenant("keyless", {"default": {"provider": "mock"}})
    finally:
        await old.close()


async def test_rotation_reseals_every_row_under_the_first_key(store_url, store):
    await _fill_under_old(store_url, 25)
    lines: list[str] = []
    report = await rotate_keys(store, batch=10, progress=lambda r: lines.append(r.line()))
    assert (report.total, report.checked, report.resealed, report.unreadable) == (26, 26, 25, [])
    assert (
        lines[-1]
        == "keys rotate: 26/26 tenants checked, 25 re-sealed, 0 under keys not in the ring"
    )
    assert len(lines) == 3
    cells = "\n".join(_all_cells(store_url))
    assert "enc:v1:old:" not in cells and cells.count("enc:v1:new:") == 50
    new_only = await open_store(store_url, ring("new"), store_timeout=5)
    try:
        row = await new_only.get_tenant("t007")
        assert row.document == {
            "models": [{"api_key": f"{CANARY}-7"}],
            "default": {"api_key": "d-7"},
        }
        assert row.version == 2
    finally:
        await new_only.close()
    again = await rotate_keys(store, batch=10)
    assert (again.checked, again.resealed) == (26, 0)


async def test_an_interrupted_rotation_continues(store_url, store):
    await _fill_under_old(store_url, 25)

    class Interrupted(Exception):
        pass

    def stop_after_first_batch(report):
        raise Interrupted

    with pytest.raises(Interrupted):
        await rotate_keys(store, batch=10, progress=stop_after_first_batch)
    # The first batch: "keyless" (no key) and t000..t008, two keys each.
    assert "\n".join(_all_cells(store_url)).count("enc:v1:new:") == 18
    report = await rotate_keys(store, batch=10)
    assert (report.checked, report.resealed) == (26, 16)
    assert "enc:v1:old:" not in "\n".join(_all_cells(store_url))


async def test_rows_under_unknown_keys_are_reported_and_left(store_url, store, tmp_path):
    await _fill_under_old(store_url, 3)
    # A ring without `old`: its rows cannot be opened, so they stay as they are.
    new_only = await open_store(store_url, ring("new"), store_timeout=5)
    try:
        report = await rotate_keys(new_only)
    finally:
        await new_only.close()
    assert report.resealed == 0
    assert report.unreadable == [(f"t{i:03d}", "old") for i in range(3)]
    assert "\n".join(_all_cells(store_url)).count("enc:v1:old:") == 6


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
    await _fill_under_old(url, 3)
