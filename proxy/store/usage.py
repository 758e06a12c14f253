"""The usage ledger's tables (SPEC 7.1, 8, 8.1): the rows of finished requests, stored
a batch at a time, and daily rollups per (tenant, UTC day, model as the client named
it) that the metering API reads.

`UsageTable.write(rows, batch_id)` is one transaction: the batch as one row of
`usage_batches` (its rows one JSON array, each row an array in `UsageRow`'s order;
clustered by an increasing `seq`, so a batch is appended), skipped when its batch id
is stored already (there, or in `usage_batches_v4`, the batches stored before schema
version 5), then, only when it was new, the rollups
of its rows (summed in Python, one upsert row per (tenant, day, model):
`rollup_groups`). The ledger keeps a batch's id from its first try to its last, and
a batch that may have been stored travels as one unit (a retry, a spilled batch
replayed), so a batch written twice never counts twice. `usage_records` is a view of
every row (schema version 4; the rows written before it are in `usage_records_v3`,
where `UsageTable.write_rows` also stores the rows an earlier worker spilled one by
one, idempotent on each event id as that version was).
Every call is bounded by the store timeout (`StoreUnavailableError`). Amounts are
integer micro-USD.

Rows store the model as '' when the request named none; a report shows it as
`NO_MODEL`.
"""

from __future__ import annotations

import functools
import operator
import secrets
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

import orjson

from proxy.store import bounded

T = TypeVar("T")
MAX_MODEL = 255  # characters kept of a model name
NO_MODEL = "(none)"
GROUPINGS = {"day": ("day",), "model": ("model",), "day,model": ("day", "model")}


class UsageRow(NamedTuple):
    """A usage record as stored (`usage_records`, without its batch id). The order of
    the fields is that of a row in `usage_batches.records` (schema version 4)."""

    event_id: str
    tenant_id: str
    day: str  # YYYY-MM-DD, UTC, of the request's arrival
    ts_ms: int
    request_id: str
    model: str  # as the client named it, '' for none
    upstream_model: str | None
    provider: str | None
    endpoint: str
    status: int
    error: str | None
    input_tokens: int | None
    output_tokens: int | None
    cached_tokens: int | None
    cost_micro: int | None  # None: unpriced (or no tokens)
    duration_ms: float
    upstream_ms: float | None
    # The flags are 0 or 1 (ints, as stored: sqlite3 binds a bool through its adapters).
    stream: int
    usage_estimated: int
    attempts: int
    forwarded: int  # at least one upstream try
    refused: int  # answered by the proxy itself with an error, never forwarded
    unpriced: int  # forwarded, tokens known, no price


# A row's values in UsageRow's order as a plain tuple: what the ledger makes (orjson
# writes a plain tuple itself, a tuple subclass only through `default`, at about twice
# the cost), and what every write takes; a UsageRow is one too.
Row = tuple[Any, ...]
EVENT_ID = UsageRow._fields.index("event_id")

COLUMNS = ("batch_id", *UsageRow._fields)
SUMS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_micro",
    "unpriced_requests",
    "refused",
)

ROLLUP_WIDTH = 3 + len(SUMS)  # values per group in `rollup_groups`


@dataclass(frozen=True, slots=True)
class UsageSums:
    requests: int = 0  # forwarded
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_micro: int = 0
    unpriced_requests: int = 0
    refused: int = 0


@dataclass(frozen=True, slots=True)
class UsageGroup:
    day: str | None  # when grouped by day
    model: str | None  # when grouped by model ('' for none)
    sums: UsageSums


class UsageBackend(Protocol):
    async def insert_usage(self, rows: Sequence[Row], batch_id: str) -> int:
        """Store the batch unless its id is stored already, and then add its rows to the
        rollups, in one transaction; the number of rows stored (0: the batch was)."""

    async def insert_usage_rows(self, rows: Sequence[Row], batch_id: str) -> int:
        """Rows spilled one by one before schema version 4: into `usage_records_v3`,
        skipping event ids stored already, and exactly the inserted rows added to the
        rollups (read back by `batch_id`, fresh for each call), in one transaction; the
        number inserted."""

    async def usage_sums(
        self, tenant_id: str, start: str, end: str, by: Sequence[str]
    ) -> list[tuple[object, ...]]:
        """Rollup sums over [start, end] grouped by `by` (columns first, then SUMS)."""

    async def has_usage(self, tenant_id: str) -> bool: ...


class UsageStore(Protocol):
    """What the ledger writes through (proxy.accounting.ledger)."""

    async def write(self, rows: Sequence[Row], batch_id: str) -> int: ...

    async def write_rows(self, rows: Sequence[Row]) -> int: ...


@dataclass(frozen=True, slots=True)
class UsageSQL:
    """The ledger's statements in one SQL dialect."""

    placeholder: str  # "?" or "%s"
    skip_duplicate: str  # appended to the batch's insert: a known batch_id is skipped
    skip_row: str  # appended to the rows' insert: a known event_id is skipped
    on_conflict: str  # the rollup upsert's clause, before the columns' updates
    add: str  # one column's update on a conflict, `{c}` the column

    def insert(self) -> str:
        """One batch (`batch_args`), skipped when its batch id is in usage_batches (its
        unique index); run after `known_v4` found it absent from the batches stored
        before schema version 5. Two statements, not an INSERT ... SELECT ... WHERE NOT
        EXISTS: on MariaDB (innodb_autoinc_lock_mode 1, its default) that is a bulk
        insert, which holds the table's AUTO-INC lock while it waits for a row lock, so
        one retried batch waiting on its earlier try would stall every writer's."""
        p = self.placeholder
        return (
            "INSERT INTO usage_batches (batch_id, written_ms, row_count, records) "
            f"VALUES ({p}, {p}, {p}, {p}){self.skip_duplicate}"
        )

    def known_v4(self) -> str:
        """A row when the batch id is among those stored before schema version 5."""
        return f"SELECT 1 FROM usage_batches_v4 WHERE batch_id = {self.placeholder}"

    def insert_rows(self, count: int) -> str:
        """`count` rows spilled before schema version 4 (`rows_args`) into the table of
        that version's rows, skipping known event ids."""
        one = "(" + ", ".join([self.placeholder] * len(COLUMNS)) + ")"
        values = ", ".join([one] * count)
        return (
            f"INSERT INTO usage_records_v3 ({', '.join(COLUMNS)}) VALUES {values}" + self.skip_row
        )

    def rollup_rows(self, count: int) -> str:
        """The rollups of the rows `insert_rows` added: of `count` event ids, those
        stored with this call's batch id (`rollup_args`)."""
        p = self.placeholder
        return (
            f"INSERT INTO usage_daily (tenant_id, day, model, {', '.join(SUMS)}) "
            "SELECT tenant_id, day, model, SUM(forwarded), COALESCE(SUM(input_tokens), 0), "
            "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_tokens), 0), "
            "COALESCE(SUM(cost_micro), 0), SUM(unpriced), SUM(refused) "
            f"FROM usage_records_v3 WHERE batch_id = {p} "
            f"AND event_id IN ({', '.join([p] * count)}) "
            f"GROUP BY tenant_id, day, model {self.on_conflict}"
            + ", ".join(self.add.format(c=c) for c in SUMS)
        )

    def upsert(self, count: int) -> str:
        """Add `count` precomputed groups (`rollup_groups`, flattened) to the rollups."""
        return _upsert(self, count)

    def sums(self, by: Sequence[str]) -> str:
        """Rollup sums of one tenant over [start, end], grouped by `by`."""
        columns = "".join(f"{c}, " for c in by)
        group = f" GROUP BY {', '.join(by)}" if by else ""
        total = ", ".join(f"COALESCE(SUM({c}), 0)" for c in SUMS)
        p = self.placeholder
        return (
            f"SELECT {columns}{total} FROM usage_daily "
            f"WHERE tenant_id = {p} AND day >= {p} AND day <= {p}{group}"
        )

    def has_usage(self) -> str:
        return f"SELECT 1 FROM usage_daily WHERE tenant_id = {self.placeholder} LIMIT 1"


SQLITE = UsageSQL(
    "?",
    " ON CONFLICT (batch_id) DO NOTHING",
    " ON CONFLICT (event_id) DO NOTHING",
    "ON CONFLICT (tenant_id, day, model) DO UPDATE SET ",
    "{c} = {c} + excluded.{c}",
)
MYSQL = UsageSQL(
    "%s",
    " ON DUPLICATE KEY UPDATE batch_id = batch_id",
    " ON DUPLICATE KEY UPDATE event_id = event_id",
    "ON DUPLICATE KEY UPDATE ",
    "{c} = {c} + VALUES({c})",
)


@functools.lru_cache(maxsize=32)  # the group counts seen last (up to BATCH_MAX, ~20 kB each)
def _upsert(dialect: UsageSQL, count: int) -> str:
    one = "(" + ", ".join([dialect.placeholder] * (3 + len(SUMS))) + ")"
    return (
        f"INSERT INTO usage_daily (tenant_id, day, model, {', '.join(SUMS)}) "
        f"VALUES {', '.join([one] * count)} {dialect.on_conflict}"
        + ", ".join(dialect.add.format(c=c) for c in SUMS)
    )


def new_batch_id() -> str:
    """A batch's id (16 hex characters), made once, when the ledger forms the batch."""
    return secrets.token_hex(8)


def rows_args(rows: Sequence[Row], batch_id: str) -> list[object]:
    """The arguments of `UsageSQL.insert_rows(len(rows))`."""
    args: list[object] = []
    for row in rows:
        args.append(batch_id)
        args.extend(row)
    return args


def rollup_args(rows: Sequence[Row], batch_id: str) -> list[object]:
    """The arguments of `UsageSQL.rollup_rows(len(rows))`."""
    return [batch_id, *(row[EVENT_ID] for row in rows)]


def batch_args(rows: Sequence[Row], batch_id: str, written_ms: int) -> tuple[object, ...]:
    """The arguments of `UsageSQL.insert()`: the rows as one JSON array of arrays
    (a UsageRow, as a replayed batch holds, through `default`: the plain tuple it is)."""
    records = orjson.dumps(rows, default=tuple).decode()
    return batch_id, written_ms, len(rows), records


_GROUP = operator.itemgetter(*(UsageRow._fields.index(c) for c in ("tenant_id", "day", "model")))
# The summed columns, in SUMS' order: forwarded, then those that may be None.
_FORWARDED = operator.itemgetter(UsageRow._fields.index("forwarded"))
_NULLABLE = tuple(
    operator.itemgetter(UsageRow._fields.index(name))
    for name in ("input_tokens", "output_tokens", "cached_tokens", "cost_micro")
)
_UNPRICED = operator.itemgetter(UsageRow._fields.index("unpriced"))
_REFUSED = operator.itemgetter(UsageRow._fields.index("refused"))


def rollup_groups(rows: Sequence[Row]) -> list[object]:
    """The rollup additions of `rows` (all newly inserted), flattened: per (tenant, day,
    model) the key, then SUMS, as the SQL rollup would sum them (columns summed by
    `sum` over `itemgetter`s: per row, only its grouping is Python)."""
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for key, row in zip(map(_GROUP, rows), rows, strict=True):
        group = groups.get(key)
        if group is None:
            groups[key] = [row]
        else:
            group.append(row)
    args: list[object] = []
    for key, group in groups.items():
        args.extend(key)
        args.append(sum(map(_FORWARDED, group)))
        args.extend([sum(filter(None, map(column, group))) for column in _NULLABLE])
        args.append(sum(map(_UNPRICED, group)))
        args.append(sum(map(_REFUSED, group)))
    return args


class UsageTable:
    """The ledger's tables on the worker's store backend, every call bounded."""

    def __init__(self, backend: UsageBackend, *, timeout: float) -> None:
        self._backend = backend
        self._timeout = timeout

    async def _bounded(self, what: str, call: Awaitable[T]) -> T:
        return await bounded(call, self._timeout, what)

    async def write(self, rows: Sequence[Row], batch_id: str) -> int:
        """Store the batch (idempotent on `batch_id`); how many rows were new."""
        if not rows:
            return 0
        write = self._backend.insert_usage(rows, batch_id)
        return await self._bounded("write usage", write)

    async def write_rows(self, rows: Sequence[Row]) -> int:
        """Store rows spilled one by one before schema version 4 (idempotent on each
        row's event_id); how many were new."""
        if not rows:
            return 0
        write = self._backend.insert_usage_rows(rows, new_batch_id())
        return await self._bounded("write usage", write)

    async def groups(
        self, tenant_id: str, start: str, end: str, by: Sequence[str]
    ) -> list[UsageGroup]:
        """Sums over the UTC days [start, end], grouped by `by` (() for the total)."""
        found = await self._bounded(
            "read usage", self._backend.usage_sums(tenant_id, start, end, by)
        )
        groups = []
        for values in found:
            named = dict(zip(by, values, strict=False))
            sums = UsageSums(*(int(v or 0) for v in values[len(by) :]))  # type: ignore[call-overload]
            day, model = named.get("day"), named.get("model")
            groups.append(UsageGroup(_text(day), _text(model), sums))
        return groups

    async def has_usage(self, tenant_id: str) -> bool:
        return await self._bounded("read usage", self._backend.has_usage(tenant_id))


def _text(value: object) -> str | None:
    return None if value is None else str(value)
