"""`keys rotate` (proxy.store.rotation): every row re-sealed under the ring's first key, in
batches with progress; an interrupted run continues; rows under unknown keys are reported."""

from __future__ import annotations

import pytest

from proxy.store.open import open_store
from proxy.store.rotation import rotate_keys
from tests.store.conftest import CANARY, all_cells, fill_under_old, ring


async def test_rotation_reseals_every_row_under_the_first_key(store_url, store):
    await fill_under_old(store_url, 25)
    lines: list[str] = []
    report = await rotate_keys(store, batch=10, progress=lambda r: lines.append(r.line()))
    assert (report.total, report.checked, report.resealed, report.unreadable) == (26, 26, 25, [])
    assert (
        lines[-1]
        == "keys rotate: 26/26 tenants checked, 25 re-sealed, 0 under keys not in the ring"
    )
    assert len(lines) == 3
    cells = "\n".join(all_cells(store_url))
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
    await fill_under_old(store_url, 25)

    class Interrupted(Exception):
        pass

    def stop_after_first_batch(report):
        raise Interrupted

    with pytest.raises(Interrupted):
        await rotate_keys(store, batch=10, progress=stop_after_first_batch)
    # The first batch: "keyless" (no key) and t000..t008, two keys each.
    assert "\n".join(all_cells(store_url)).count("enc:v1:new:") == 18
    report = await rotate_keys(store, batch=10)
    assert (report.checked, report.resealed) == (26, 16)
    assert "enc:v1:old:" not in "\n".join(all_cells(store_url))


async def test_rows_under_unknown_keys_are_reported_and_left(store_url, store, tmp_path):
    await fill_under_old(store_url, 3)
    # A ring without `old`: its rows cannot be opened, so they stay as they are.
    new_only = await open_store(store_url, ring("new"), store_timeout=5)
    try:
        report = await rotate_keys(new_only)
    finally:
        await new_only.close()
    assert report.resealed == 0
    assert report.unreadable == [(f"t{i:03d}", "old") for i in range(3)]
    assert "\n".join(all_cells(store_url)).count("enc:v1:old:") == 6
