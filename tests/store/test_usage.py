"""The usage ledger's tables on both backends: idempotent batches, rollups counted once."""

from __future__ import annotations

from proxy.store.usage import UsageRow, UsageSums, UsageTable


def row(event_id: str, *, day: str = "2026-11-30", model: str = "m", **over) -> UsageRow:
    values = {
        "event_id": event_id,
        "tenant_id": "acme",
        "day": day,
        "ts_ms": 1,
        "request_id": "req",
        "model": model,
        "upstream_model": model,
        "provider": "mock",
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "error": None,
        "input_tokens": 10,
        "output_tokens": 5,
        "cached_tokens": 2,
        "cost_micro": 7,
        "duration_ms": 1.5,
        "upstream_ms": 1.0,
        "stream": False,
        "usage_estimated": False,
        "attempts": 1,
        "forwarded": True,
        "refused": False,
        "unpriced": False,
    }
    return UsageRow(**{**values, **over})


REFUSED = {"status": 429, "attempts": 0, "forwarded": False, "refused": True}
NO_TOKENS = {"input_tokens": None, "output_tokens": None, "cached_tokens": None}


async def test_a_batch_written_twice_counts_once(store):
    table = UsageTable(store.backend, timeout=5)
    batch = [row("e1"), row("e2"), row("e3", **REFUSED, **NO_TOKENS, cost_micro=None)]
    assert await table.write(batch) == 3
    assert await table.write(batch) == 0
    assert await table.write([*batch, row("e4", model="other")]) == 1
    (total,) = await table.groups("acme", "2026-11-01", "2026-11-30", ())
    assert total.sums == UsageSums(3, 30, 15, 6, 21, 0, 1)


async def test_groups_by_day_model_and_both(store):
    table = UsageTable(store.backend, timeout=5)
    await table.write(
        [
            row("a", day="2026-11-01"),
            row("b", day="2026-11-02", model="x"),
            row("c", day="2026-11-02", model="", cost_micro=None, unpriced=True),
            row("d", day="2026-12-01"),
        ]
    )
    by_day = await table.groups("acme", "2026-11-01", "2026-11-30", ("day",))
    assert sorted((g.day, g.sums.requests) for g in by_day) == [
        ("2026-11-01", 1),
        ("2026-11-02", 2),
    ]
    by_model = await table.groups("acme", "2026-11-02", "2026-11-02", ("model",))
    assert sorted((g.model, g.sums.cost_micro, g.sums.unpriced_requests) for g in by_model) == [
        ("", 0, 1),
        ("x", 7, 0),
    ]
    both = await table.groups("acme", "2026-11-01", "2026-12-31", ("day", "model"))
    assert len(both) == 4
    assert await table.has_usage("acme") and not await table.has_usage("nobody")


async def test_an_event_id_twice_in_one_batch_counts_once(store):
    table = UsageTable(store.backend, timeout=5)
    assert await table.write([row("d1"), row("d1"), row("d2", model="other")]) == 2
    by_model = await table.groups("acme", "2026-11-30", "2026-11-30", ("model",))
    assert sorted((g.model, g.sums.requests, g.sums.input_tokens) for g in by_model) == [
        ("m", 1, 10),
        ("other", 1, 10),
    ]


async def test_a_large_batch_and_its_partial_rewrite_count_each_row_once(store):
    """300 rows (SQLite inserts them in chunks of 32, 8 and 2 rows), then the same rows
    with 37 new ones: only the new ones are added to the rollups."""
    table = UsageTable(store.backend, timeout=5)
    first = [row(f"e{i:03d}") for i in range(300)]
    assert await table.write(first) == 300
    more = [row(f"n{i:03d}", model="other") for i in range(37)]
    assert await table.write([*more[:20], *first, *more[20:]]) == 37
    by_model = await table.groups("acme", "2026-11-30", "2026-11-30", ("model",))
    sums = {g.model: g.sums for g in by_model}
    assert sums["m"] == UsageSums(300, 3000, 1500, 600, 2100, 0, 0)
    assert sums["other"] == UsageSums(37, 370, 185, 74, 259, 0, 0)
