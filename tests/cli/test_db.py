"""`tenant-proxy db migrate` and `keys rotate` as a user runs them: exit codes, one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from proxy.store.migrations import SCHEMA_VERSION

BIN = str(Path(sys.executable).with_name("tenant-proxy"))


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "PROXY_ENC"))
    }
    return subprocess.run(
        [BIN, *args], capture_output=True, text=True, timeout=60, env={**environ, **env}
    )


def test_db_migrate_on_sqlite_is_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    first = run("db", "migrate", DATABASE_URL=url)
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout == f"{url}: schema migrated from version 0 to {SCHEMA_VERSION}\n"
    again = run("db", "migrate", DATABASE_URL=url)
    assert again.stdout == f"{url}: schema already at version {SCHEMA_VERSION}, nothing to do\n"


def test_db_migrate_failures_are_one_line_without_the_password(mysql_url):
    missing = f"mysql://root:s3cret@{mysql_url.host}:{mysql_url.port}/{mysql_url.database}_x"
    for env, expected in [
        ({}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "oracle://x"}, "DATABASE_URL: scheme 'oracle' is not supported"),
        ({"DATABASE_URL": missing}, "failed"),  # root has no password: access denied
    ]:
        result = run("db", "migrate", **env)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and expected in result.stderr
        assert "s3cret" not in result.stderr and "Traceback" not in result.stderr
    nodb = f"mysql://root@{mysql_url.host}:{mysql_url.port}/{mysql_url.database}_x"
    result = run("db", "migrate", DATABASE_URL=nodb)
    assert result.returncode == 1 and "which does not exist" in result.stderr


def test_usage_errors_exit_2():
    assert run("db").returncode == 2
    assert run("db", "drop").returncode == 2
    assert run("keys").returncode == 2


def test_keys_rotate_needs_a_key_ring(tmp_path):
    result = run("keys", "rotate", DATABASE_URL=f"sqlite:///{tmp_path}/t.db")
    assert result.returncode == 1 and "PROXY_ENCRYPTION_KEYS" in result.stderr
