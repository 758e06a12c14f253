"""What the usage ledger holds and spills (SPEC 8, 8.1): a finished request's stored
row (`usage_row`), a batch of rows under its id (`Batch`), and a batch as one spilled
item (`encode_batch`, `decode_item`; `decode_item` also reads the rows workers from
before schema version 4 spilled one by one). The writer is `proxy.accounting.ledger`."""

from __future__ import annotations

import time
from typing import Any

import orjson

from proxy.store.usage import MAX_MODEL, Row, UsageRow
from proxy.usage_record import UsageRecord


class _Today:
    """The UTC day a row was last dated by, with its bounds, as one tuple (read and
    replaced whole: no reader sees one day's bounds with another's label): a row inside
    them (nearly all) is dated by two comparisons, not a division and a lookup."""

    __slots__ = ("day",)

    def __init__(self) -> None:
        self.day = (0.0, 0.0, "")

    def of(self, timestamp: float) -> str:
        """YYYY-MM-DD of `timestamp` (seconds since the epoch), remembered."""
        days = int(timestamp // 86400)
        label = time.strftime("%Y-%m-%d", time.gmtime(days * 86400))
        self.day = (days * 86400.0, (days + 1) * 86400.0, label)
        return label


_TODAY = _Today()


def usage_row(record: UsageRecord) -> Row:
    """The stored form of a record (tenant set), UsageRow's values as a plain tuple
    (`Row`: a NamedTuple costs a second tuple here and a conversion in orjson);
    amounts in micro-USD, flags 0 or 1 (sqlite3 binds an int as it is, where a bool
    costs it an adapter lookup)."""
    attempts, status, cost_usd = record.attempts, record.status, record.cost_usd
    timestamp, model, upstream_model = record.timestamp, record.model, record.upstream_model
    cost = None if cost_usd is None else round(cost_usd * 1_000_000)
    if attempts > 0:
        forwarded, refused = 1, 0
        unpriced = (
            1
            if cost is None
            and (record.input_tokens is not None or record.output_tokens is not None)
            else 0
        )
    else:
        forwarded = unpriced = 0
        refused = 1 if status >= 400 else 0
    start, end, day = _TODAY.day
    if not start <= timestamp < end:
        day = _TODAY.of(timestamp)
    return (
        record.event_id,
        record.tenant or "",
        day,
        round(timestamp * 1000),
        record.request_id,
        model[:MAX_MODEL] if model else "",
        None if upstream_model is None else upstream_model[:MAX_MODEL],
        record.provider,
        record.endpoint[:1024],
        status,
        record.error,
        record.input_tokens,
        record.output_tokens,
        record.cached_tokens,
        cost,
        record.duration_ms,
        record.upstream_ms,
        1 if record.stream else 0,
        1 if record.usage_estimated else 0,
        attempts,
        forwarded,
        refused,
        unpriced,
    )


class Batch:
    """Rows written (or to be written) together under one id. The id is made when the
    batch is formed and kept through its retries: once a batch may have been stored,
    it is only ever written again whole, under its id (spilled as one unit), so the
    store's check of the id is all that keeps it from counting twice. `legacy`: its rows
    were spilled one by one by a worker from before schema version 4, which may have
    stored some of them (a write that committed unconfirmed), or spilled one twice: they
    are written as that version wrote them, idempotent on each row's event id
    (`UsageTable.write_rows`), and keep the flag when they spill again."""

    __slots__ = ("batch_id", "rows", "legacy")

    def __init__(self, batch_id: str, rows: list[Row], *, legacy: bool = False) -> None:
        self.batch_id = batch_id
        self.rows = rows
        self.legacy = legacy


def encode_batch(batch: Batch) -> bytes:
    """A spilled batch: one item."""
    rows = [dict(zip(UsageRow._fields, r, strict=True)) for r in batch.rows]
    doc: dict[str, Any] = {"batch_id": batch.batch_id, "rows": rows}
    if batch.legacy:
        doc["legacy"] = True
    return orjson.dumps(doc)


def _row(doc: dict[str, Any]) -> UsageRow:
    return UsageRow(**{name: doc[name] for name in UsageRow._fields})


def decode_item(item: bytes) -> UsageRow | Batch | None:
    """A spilled batch, a row spilled alone (before schema version 4), or None for what
    cannot be read."""
    try:
        doc = orjson.loads(item)
        if "rows" in doc and "batch_id" in doc:
            batch_id, rows = doc["batch_id"], doc["rows"]
            if not isinstance(batch_id, str) or not isinstance(rows, list):
                return None
            return Batch(batch_id, [_row(r) for r in rows], legacy=doc.get("legacy") is True)
        return _row(doc)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
