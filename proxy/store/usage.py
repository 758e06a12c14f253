"""The usage ledger's tables (SPEC 7.1, 8, 8.1): one row per finished request, keyed by
its server `event_id`, and daily rollups per (tenant, UTC day, model as the client
named it) that the metering API reads.

`UsageTable.write(rows)` is one transaction: an insert that skips event ids already
stored, then the rollups of exactly the rows that insert added, so a batch written
twice (a retry after a timeout that had in fact committed, a spilled batch replayed)
never counts twice. When every row was new (the usual case) the rollups are summed in
Python, one upsert row per (tenant, day, model) (`rollup_groups`); otherwise the store
sums the rows that carry this batch's id. Every call is bounded by
the store timeout (`StoreUnavailableError`). Amounts are integer micro-USD.

Rows store the model as '' when the request named none; a report shows it as
`NO_MODEL`.
"""

from __future__ import annotations

import operator
import secrets
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeVar

from proxy.store import bounded

T = TypeVar("T")
MAX_MODEL = 255  # characters kept of a model name
NO_MODEL = "(none)"
GROUPINGS = {"day": ("day",), "model": ("model",), "day,model": ("day", "model")}


class UsageRow(NamedTuple):
    """A usage record as stored (`usage_records`, without its batch id)."""

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
    async def insert_usage(self, rows: Sequence[UsageRow], batch_id: str) -> int:
        """Insert the rows not stored yet and add exactly those to the rollups, in one
        transaction; the number inserted."""

    async def usage_sums(
        self, tenant_id: str, start: str, end: str, by: Sequence[str]
    ) -> list[tuple[object, ...]]:
        """Rollup sums over [start, end] grouped by `by` (columns first, then SUMS)."""

    async def has_usage(self, tenant_id: str) -> bool: ...


class UsageStore(Protocol):
    """What the ledger writes through (proxy.accounting.ledger)."""

    async def write(self, rows: Sequence[UsageRow]) -> int: ...


@dataclass(frozen=True, slots=True)
class UsageSQL:
    """The ledger's statements in one SQL dialect."""

    placeholder: str  # "?" or "%s"
    skip_duplicate: str  # appended to the multi-row insert: a known event_id is skipped
    on_conflict: str  # the rollup upsert's clause, before the columns' updates
    add: str  # one column's update on a conflict, `{c}` the column

    def insert(self, count: int) -> str:
        one = "(" + ", ".join([self.placeholder] * len(COLUMNS)) + ")"
        values = ", ".join([one] * count)
        columns = ", ".join(COLUMNS)
        return f"INSERT INTO usage_records ({columns}) VALUES {values}{self.skip_duplicate}"

    def rollup(self, count: int) -> str:
        """The rollups of one batch's newly inserted rows: of its `count` event ids
        (`rollup_args`), those stored with its batch id (read by primary key)."""
        p = self.placeholder
        return (
            f"INSERT INTO usage_daily (tenant_id, day, model, {', '.join(SUMS)}) "
            "SELECT tenant_id, day, model, SUM(forwarded), COALESCE(SUM(input_tokens), 0), "
            "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_tokens), 0), "
            "COALESCE(SUM(cost_micro), 0), SUM(unpriced), SUM(refused) "
            f"FROM usage_records WHERE batch_id = {p} "
            f"AND event_id IN ({', '.join([p] * count)}) "
            f"GROUP BY tenant_id, day, model {self.on_conflict}"
            + ", ".join(self.add.format(c=c) for c in SUMS)
        )

    def upsert(self, count: int) -> str:
        """Add `count` precomputed groups (`rollup_groups`, flattened) to the rollups."""
        one = "(" + ", ".join([self.placeholder] * (3 + len(SUMS))) + ")"
        return (
            f"INSERT INTO usage_daily (tenant_id, day, model, {', '.join(SUMS)}) "
            f"VALUES {', '.join([one] * count)} {self.on_conflict}"
            + ", ".join(self.add.format(c=c) for c in SUMS)
        )

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
    " ON CONFLICT (event_id) DO NOTHING",
    "ON CONFLICT (tenant_id, day, model) DO UPDATE SET ",
    "{c} = {c} + excluded.{c}",
)
MYSQL = UsageSQL(
    "%s",
    " ON DUPLICATE KEY UPDATE event_id = event_id",
    "ON DUPLICATE KEY UPDATE ",
    "{c} = {c} + VALUES({c})",
)


def flatten(rows: Sequence[UsageRow], batch_id: str) -> list[object]:
    args: list[object] = []
    for row in rows:
        args.append(batch_id)
        args.extend(row)
    return args


def rollup_args(rows: Sequence[UsageRow], batch_id: str) -> list[object]:
    """The arguments of `UsageSQL.rollup(len(rows))`."""
    return [batch_id, *(row.event_id for row in rows)]


_GROUP = operator.itemgetter(*(UsageRow._fields.index(c) for c in ("tenant_id", "day", "model")))
# The summed columns, in SUMS' order: forwarded, then those that may be None.
_FORWARDED = operator.itemgetter(UsageRow._fields.index("forwarded"))
_NULLABLE = tuple(
    operator.itemgetter(UsageRow._fields.index(name))
    for name in ("input_tokens", "output_tokens", "cached_tokens", "cost_micro")
)
_UNPRICED = operator.itemgetter(UsageRow._fields.index("unpriced"))
_REFUSED = operator.itemgetter(UsageRow._fields.index("refused"))


def rollup_groups(rows: Sequence[UsageRow]) -> list[object]:
    """The rollup additions of `rows` (all newly inserted), flattened: per (tenant, day,
    model) the key, then SUMS, as the SQL rollup would sum them (columns summed by
    `sum` over `itemgetter`s: per row, only its grouping is Python)."""
    groups: dict[tuple[str, str, str], list[UsageRow]] = {}
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

    async def write(self, rows: Sequence[UsageRow]) -> int:
        """Store the rows (idempotent on event_id); how many were new."""
        if not rows:
            return 0
        batch_id = secrets.token_hex(8)
        return await self._bounded("write usage", self._backend.insert_usage(rows, batch_id))

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
