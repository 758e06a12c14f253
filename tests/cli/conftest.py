"""The management API the CLI tests run against, and the CLI run as a user runs it.

`api` is the real gateway in built-in-store mode (tests/management_api.LiveGateway),
the usage report included; the scripted stand-in (tests/management_api.StandIn) stays
for answers the gateway cannot be made to give (`standin_api`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.management_api import LiveGateway, StandIn, live_gateway, standin_in_thread

API = "gateway_api"  # the real gateway in built-in-store mode; "standin_api": the stand-in

BIN = str(Path(sys.executable).with_name("tenant-proxy"))
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def standin_api() -> Iterator[StandIn]:
    with standin_in_thread(StandIn()) as running:
        yield running


@pytest.fixture
def gateway_api(tmp_path: Path) -> Iterator[LiveGateway]:
    with live_gateway(tmp_path) as running:
        yield running


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(API)


def run_cli(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """`tenant-proxy ARGS` in a process of its own, PROXY_* from `env` only."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PROXY_")}
    return subprocess.run(
        [BIN, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **env},
    )


@pytest.fixture
def cli(api: Any) -> Run:
    """`tenant-proxy ARGS` with PROXY_URL and PROXY_ADMIN_KEY naming `api`."""

    def run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        base = {"PROXY_URL": api.url, "PROXY_ADMIN_KEY": api.admin_key}
        return run_cli(*args, stdin=stdin, **{**base, **env})

    return run


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """stdout of a command that must have succeeded quietly on stderr."""
    assert (result.returncode, result.stderr) == (0, ""), result
    return result.stdout


def failed(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The one stderr line of a command that failed with `code`, stdout empty."""
    assert result.returncode == code, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    if code == 1:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("tenant-proxy: ")
    return result.stderr.strip()


def columns(table: str) -> list[list[str]]:
    """A printed table's cells, split at two or more spaces."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in table.splitlines()]
