"""`tenant-proxy usage TENANT_ID --start --end [--group-by day|model|day,model]`, against
the real gateway in built-in-store mode: the usage is real requests through the proxy,
read back from the ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.cli.conftest import columns, failed, ok

HEADERS = [
    "REQUESTS", "INPUT_TOKENS", "OUTPUT_TOKENS", "CACHED_TOKENS", "COST_USD", "UNPRICED"
]  # fmt: skip


def _utc_day() -> str:
    return datetime.now(UTC).date().isoformat()


@pytest.fixture
def today():
    """The UTC day the usage is recorded on, read when the test runs (not at import,
    which a run crossing midnight UTC got wrong)."""
    return _utc_day()


@pytest.fixture
def tenant(cli, api, today):
    doc = "default: {provider: mock}\nbudget: {monthly_usd: 100}\n"
    ok(cli("tenants", "create", "acme", "--config", "-", stdin=doc))
    api.add_usage("acme", "mock-a", 3)
    api.add_usage("acme", "mock-b", 2)
    if _utc_day() != today:
        pytest.skip("the usage was recorded across midnight UTC: its day is not one day")
    return "acme"


def test_by_model_one_row_per_model_then_the_total_and_the_budget(cli, tenant, today):
    out = ok(cli("usage", tenant, "--start", today, "--end", today, "--group-by", "model"))
    lines = out.splitlines()
    table = columns("\n".join(lines[:-2]))
    assert table[0] == ["MODEL", *HEADERS]
    assert [(row[0], row[1]) for row in table[1:]] == [
        ("mock-a", "3"),
        ("mock-b", "2"),
        ("total", "5"),
    ]
    assert lines[-2] == "refused: 0"
    assert lines[-1].startswith(f"budget {today[:7]}: spent ") and lines[-1].endswith(
        "of 100.000000"
    )


def test_by_day_is_the_default(cli, tenant, today):
    table = columns(ok(cli("usage", tenant, "--start", today, "--end", today)))
    assert table[0][0] == "DAY"
    assert (table[1][0], table[1][1]) == (today, "5")


def test_json_is_the_api_report(cli, tenant, today):
    report = json.loads(ok(cli("usage", tenant, "--json", "--start", today, "--end", today)))
    assert (report["tenant_id"], report["start"], report["end"]) == (tenant, today, today)
    assert report["group_by"] == "day" and report["total"]["requests"] == 5
    assert set(report["budget"]) == {"month", "monthly_usd", "spent_usd", "reserved_usd"}


def test_usage_errors(cli, tenant, today):
    assert "--start" in failed(cli("usage", tenant, "--start", "2026-13-01", "--end", today), 2)
    assert "--end" in failed(cli("usage", tenant, "--start", today, "--end", "tomorrow"), 2)
    assert "after" in failed(
        cli("usage", tenant, "--start", "2026-02-02", "--end", "2026-02-01"), 2
    )
    assert failed(cli("usage", tenant, "--start", today), 2)
    assert "--group-by" in failed(
        cli("usage", tenant, "--start", today, "--end", today, "--group-by", "week"), 2
    )
    never = failed(cli("usage", "nobody", "--start", today, "--end", today))
    assert never.endswith("(HTTP 404, not_found)")


def test_by_day_and_model_two_key_columns(cli, tenant, today):
    args = ("usage", tenant, "--start", today, "--end", today, "--group-by", "day,model")
    table = columns("\n".join(ok(cli(*args)).splitlines()[:-2]))
    assert table[0] == ["DAY", "MODEL", *HEADERS]
    assert [row[:3] for row in table[1:]] == [
        [today, "mock-a", "3"],
        [today, "mock-b", "2"],
        ["total", "-", "5"],
    ]
    report = json.loads(ok(cli(*args, "--json")))
    assert [g["key"] for g in report["groups"]] == [f"{today} mock-a", f"{today} mock-b"]
