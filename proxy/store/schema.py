"""The store's schema: the steps of each dialect, version N being steps 1..N.

Both dialects have the same number of steps. Each MySQL step is idempotent (`IF [NOT]
EXISTS`, `CREATE OR REPLACE`, or statements built only when what they change is
there: `_drop_index_if_exists`, `_run_if`), so one cut short re-runs cleanly; a
SQLite step runs inside one transaction. `proxy.store.migrations` applies them.
"""

from __future__ import annotations

from collections.abc import Sequence

Steps = Sequence[Sequence[str]]

# A usage row's values in the order usage_batches.records holds them (frozen with
# schema version 4: proxy.store.usage.UsageRow must keep this order).
_ROW_COLUMNS = (
    "event_id",
    "tenant_id",
    "day",
    "ts_ms",
    "request_id",
    "model",
    "upstream_model",
    "provider",
    "endpoint",
    "status",
    "error",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_micro",
    "duration_ms",
    "upstream_ms",
    "stream",
    "usage_estimated",
    "attempts",
    "forwarded",
    "refused",
    "unpriced",
)

# The usage_records view's parts: the rows of a table of batches (its JSON unpacked),
# and the rows written one by one before schema version 4.
_SQLITE_BATCH_ROWS = (
    "SELECT b.batch_id AS batch_id, "
    + ", ".join(f"json_extract(r.value, '$[{i}]') AS {name}" for i, name in enumerate(_ROW_COLUMNS))
    + " FROM {table} AS b, json_each(b.records) AS r"
)
_V3_ROWS = "SELECT batch_id, " + ", ".join(_ROW_COLUMNS) + " FROM usage_records_v3"

SQLITE_STEPS: Steps = (
    (
        """CREATE TABLE IF NOT EXISTS tenants (
            tenant_id TEXT NOT NULL PRIMARY KEY,
            document TEXT NOT NULL,
            version INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS tokens (
            token_id TEXT NOT NULL PRIMARY KEY,
            tenant_id TEXT NOT NULL,
            name TEXT NOT NULL,
            digest TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            revoked_at INTEGER
        )""",
        "CREATE UNIQUE INDEX IF NOT EXISTS tokens_by_digest ON tokens (digest)",
        "CREATE INDEX IF NOT EXISTS tokens_by_tenant ON tokens (tenant_id, token_id)",
    ),
    (
        # The usage ledger (proxy.store.usage): one row per finished request, and the
        # daily rollups the metering API reads.
        """CREATE TABLE IF NOT EXISTS usage_records (
            event_id TEXT NOT NULL PRIMARY KEY,
            batch_id TEXT NOT NULL,
            tenant_id TEXT NOT NULL,
            day TEXT NOT NULL,
            ts_ms INTEGER NOT NULL,
            request_id TEXT NOT NULL,
            model TEXT NOT NULL,
            upstream_model TEXT,
            provider TEXT,
            endpoint TEXT NOT NULL,
            status INTEGER NOT NULL,
            error TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cached_tokens INTEGER,
            cost_micro INTEGER,
            duration_ms REAL NOT NULL,
            upstream_ms REAL,
            stream INTEGER NOT NULL,
            usage_estimated INTEGER NOT NULL,
            attempts INTEGER NOT NULL,
            forwarded INTEGER NOT NULL,
            refused INTEGER NOT NULL,
            unpriced INTEGER NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX IF NOT EXISTS usage_records_by_batch ON usage_records (batch_id)",
        "CREATE INDEX IF NOT EXISTS usage_records_by_tenant ON usage_records (tenant_id, day)",
        """CREATE TABLE IF NOT EXISTS usage_daily (
            tenant_id TEXT NOT NULL,
            day TEXT NOT NULL,
            model TEXT NOT NULL,
            requests INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cached_tokens INTEGER NOT NULL,
            cost_micro INTEGER NOT NULL,
            unpriced_requests INTEGER NOT NULL,
            refused INTEGER NOT NULL,
            PRIMARY KEY (tenant_id, day, model)
        ) WITHOUT ROWID""",
    ),
    # No query reads usage_records by (tenant_id, day) (the metering API reads the
    # rollups), nor by batch_id alone (a batch's rollup finds its rows by event_id),
    # and every ledger insert paid for both indexes.
    (
        "DROP INDEX IF EXISTS usage_records_by_tenant",
        "DROP INDEX IF EXISTS usage_records_by_batch",
    ),
    # A batch of usage rows is stored as one row of usage_batches (its rows one JSON
    # array, each row an array in _ROW_COLUMNS' order), idempotent on its batch id: a
    # row per request with 25 bound columns cost ~30k instructions of SQLite per
    # request, about 6 % of built-in-store mode's throughput. `usage_records` becomes
    # a view with the columns it had: the batches' rows, then the rows written before
    # (kept in usage_records_v3).
    (
        """CREATE TABLE IF NOT EXISTS usage_batches (
            batch_id TEXT NOT NULL PRIMARY KEY,
            written_ms INTEGER NOT NULL,
            row_count INTEGER NOT NULL,
            records TEXT NOT NULL
        ) WITHOUT ROWID""",
        "ALTER TABLE usage_records RENAME TO usage_records_v3",
        "CREATE VIEW IF NOT EXISTS usage_records AS "
        + _SQLITE_BATCH_ROWS.format(table="usage_batches")
        + " UNION ALL "
        + _V3_ROWS,
    ),
    # usage_batches again, clustered by an increasing `seq` (its batch ids, random, in a
    # unique index): a WITHOUT ROWID table keyed by a random id inserts each batch (a
    # large row) in the middle of its B-tree, rebalancing pages there, where a rowid
    # table appends: the ledger's transaction costs 0.1-0.8 us less CPU per row (the
    # README's "Usage ledger"). The version 4 table is kept as it is (renamed, not
    # copied: a worker opening a large file is not held up), read by the view and
    # checked before every insert, so a batch stored before the upgrade and written
    # again after it is still stored once.
    (
        "DROP VIEW IF EXISTS usage_records",
        "ALTER TABLE usage_batches RENAME TO usage_batches_v4",
        """CREATE TABLE usage_batches (
            seq INTEGER PRIMARY KEY,
            batch_id TEXT NOT NULL UNIQUE,
            written_ms INTEGER NOT NULL,
            row_count INTEGER NOT NULL,
            records TEXT NOT NULL
        )""",
        "CREATE VIEW usage_records AS "
        + " UNION ALL ".join(
            (
                _SQLITE_BATCH_ROWS.format(table="usage_batches"),
                _SQLITE_BATCH_ROWS.format(table="usage_batches_v4"),
                _V3_ROWS,
            )
        ),
    ),
)


def _drop_index_if_exists(table: str, index: str) -> tuple[str, ...]:
    """MySQL statements dropping the index when it exists, and doing nothing otherwise."""
    return (
        "SET @drop_index = IF((SELECT COUNT(*) FROM information_schema.statistics "
        f"WHERE table_schema = DATABASE() AND table_name = '{table}' "
        f"AND index_name = '{index}') > 0, 'ALTER TABLE {table} DROP INDEX {index}', 'DO 0')",
        "PREPARE drop_index FROM @drop_index",
        "EXECUTE drop_index",
        "DEALLOCATE PREPARE drop_index",
    )


def _run_if(condition: str, statement: str) -> tuple[str, ...]:
    """MySQL statements running `statement` only when `condition` (a count) is > 0."""
    return (
        f"SET @run_if = IF(({condition}) > 0, '{statement}', 'DO 0')",
        "PREPARE run_if FROM @run_if",
        "EXECUTE run_if",
        "DEALLOCATE PREPARE run_if",
    )


# The view's column types: those of usage_records_v3, collations included (JSON_TABLE's
# strings otherwise take the connection's, case-insensitive: `tenant_id = 'acme'` would
# match tenant Acme's rows).
_ASCII, _UTF8, _FLAG = (
    "CHARACTER SET ascii COLLATE ascii_bin",
    "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
    "TINYINT",
)
_MYSQL_TYPES = {
    "event_id": f"VARCHAR(64) {_ASCII}",
    "tenant_id": f"VARCHAR(128) {_ASCII}",
    "day": f"CHAR(10) {_ASCII}",
    **dict.fromkeys(("request_id", "model", "upstream_model"), f"VARCHAR(255) {_UTF8}"),
    **dict.fromkeys(("provider", "error"), f"VARCHAR(64) {_UTF8}"),
    "endpoint": f"VARCHAR(1024) {_UTF8}",
    **dict.fromkeys(("ts_ms", "input_tokens", "output_tokens", "cached_tokens"), "BIGINT"),
    "cost_micro": "BIGINT",
    **dict.fromkeys(("duration_ms", "upstream_ms"), "DOUBLE"),
    **dict.fromkeys(("status", "attempts"), "INT"),
    **dict.fromkeys(("stream", "usage_estimated", "forwarded", "refused", "unpriced"), _FLAG),
}


_MYSQL_BATCH_ROWS = (
    "SELECT b.batch_id AS batch_id, j.* FROM {table} AS b, JSON_TABLE(b.records, '$[*]' "
    "COLUMNS ("
    + ", ".join(f"{name} {_MYSQL_TYPES[name]} PATH '$[{i}]'" for i, name in enumerate(_ROW_COLUMNS))
    + ")) AS j"
)

# ascii_bin: tenant and token ids compare and sort byte by byte, as in SQLite.
MYSQL_STEPS: Steps = (
    (
        """CREATE TABLE IF NOT EXISTS tenants (
            tenant_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
            document MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            version BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        ) ENGINE=InnoDB""",
        """CREATE TABLE IF NOT EXISTS tokens (
            token_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
            tenant_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            digest CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            revoked_at BIGINT NULL,
            UNIQUE KEY tokens_by_digest (digest),
            KEY tokens_by_tenant (tenant_id, token_id)
        ) ENGINE=InnoDB""",
    ),
    (
        # Models are compared byte by byte (utf8mb4_bin), as in SQLite; at most 255
        # characters (proxy.store.usage cuts longer names).
        """CREATE TABLE IF NOT EXISTS usage_records (
            event_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
            batch_id CHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            tenant_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            day CHAR(10) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            ts_ms BIGINT NOT NULL,
            request_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            model VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            upstream_model VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
            provider VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
            endpoint VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            status INT NOT NULL,
            error VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
            input_tokens BIGINT NULL,
            output_tokens BIGINT NULL,
            cached_tokens BIGINT NULL,
            cost_micro BIGINT NULL,
            duration_ms DOUBLE NOT NULL,
            upstream_ms DOUBLE NULL,
            stream TINYINT NOT NULL,
            usage_estimated TINYINT NOT NULL,
            attempts INT NOT NULL,
            forwarded TINYINT NOT NULL,
            refused TINYINT NOT NULL,
            unpriced TINYINT NOT NULL,
            KEY usage_records_by_batch (batch_id),
            KEY usage_records_by_tenant (tenant_id, day)
        ) ENGINE=InnoDB""",
        """CREATE TABLE IF NOT EXISTS usage_daily (
            tenant_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            day CHAR(10) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            model VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            requests BIGINT NOT NULL,
            input_tokens BIGINT NOT NULL,
            output_tokens BIGINT NOT NULL,
            cached_tokens BIGINT NOT NULL,
            cost_micro BIGINT NOT NULL,
            unpriced_requests BIGINT NOT NULL,
            refused BIGINT NOT NULL,
            PRIMARY KEY (tenant_id, day, model)
        ) ENGINE=InnoDB""",
    ),
    # As SQLite's step 3. MySQL has no DROP INDEX IF EXISTS (MariaDB has): each drop
    # is built only when its index is there, so a re-run is a no-op.
    (
        *_drop_index_if_exists("usage_records", "usage_records_by_tenant"),
        *_drop_index_if_exists("usage_records", "usage_records_by_batch"),
    ),
    # As SQLite's step 4; the rename only while usage_records is still a table.
    (
        """CREATE TABLE IF NOT EXISTS usage_batches (
            batch_id CHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
            written_ms BIGINT NOT NULL,
            row_count INT NOT NULL,
            records LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
        ) ENGINE=InnoDB""",
        *_run_if(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
            "AND table_name = 'usage_records' AND table_type = 'BASE TABLE'",
            "RENAME TABLE usage_records TO usage_records_v3",
        ),
        "CREATE OR REPLACE VIEW usage_records AS "
        + _MYSQL_BATCH_ROWS.format(table="usage_batches")
        + " UNION ALL "
        + _V3_ROWS,
    ),
    # As SQLite's step 5; the rename only while usage_batches_v4 is not there yet, so a
    # step cut short re-runs.
    (
        *_run_if(
            "SELECT 1 - COUNT(*) FROM information_schema.tables WHERE table_schema = "
            "DATABASE() AND table_name = 'usage_batches_v4'",
            "RENAME TABLE usage_batches TO usage_batches_v4",
        ),
        """CREATE TABLE IF NOT EXISTS usage_batches (
            seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
            batch_id CHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            written_ms BIGINT NOT NULL,
            row_count INT NOT NULL,
            records LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
            UNIQUE KEY usage_batches_by_id (batch_id)
        ) ENGINE=InnoDB""",
        "CREATE OR REPLACE VIEW usage_records AS "
        + " UNION ALL ".join(
            (
                _MYSQL_BATCH_ROWS.format(table="usage_batches"),
                _MYSQL_BATCH_ROWS.format(table="usage_batches_v4"),
                _V3_ROWS,
            )
        ),
    ),
)
