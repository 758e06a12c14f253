"""`tenant-proxy usage TENANT_ID --start --end [--group-by day|model|day,model]`: SPEC
8.1's usage report (`GET /admin/tenants/{id}/usage`), one row per group, the total,
the budget."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from proxy.cli.client import CommandError, UsageError, connect, segment
from proxy.cli.output import NONE, cell, print_json, print_table, usd

if TYPE_CHECKING:
    from proxy.cli.client import Commands

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
KEY_COLUMNS = {"day": ("DAY",), "model": ("MODEL",), "day,model": ("DAY", "MODEL")}
COLUMNS = ("requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd")


def add_commands(commands: Commands, api_options: argparse.ArgumentParser) -> None:
    usage = commands.add_parser(
        "usage", parents=[api_options], help="a tenant's usage and budget over UTC days"
    )
    usage.add_argument("tenant_id", metavar="TENANT_ID")
    usage.add_argument("--start", required=True, type=_date, metavar="YYYY-MM-DD")
    usage.add_argument("--end", required=True, type=_date, metavar="YYYY-MM-DD")
    usage.add_argument("--group-by", choices=("day", "model", "day,model"), default="day")
    usage.set_defaults(run=_usage, parser=usage)


def _date(text: str) -> str:
    from datetime import date

    try:
        if DATE.match(text):
            return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}")


def _usage(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    if args.start > args.end:
        raise UsageError(f"--start {args.start} is after --end {args.end}")
    client = connect(args, environ)
    query = {"start": args.start, "end": args.end, "group_by": args.group_by}
    report = client.get(f"/admin/tenants/{segment(args.tenant_id)}/usage", query)
    if args.json:
        print_json(report)
        return 0
    if not isinstance(report, dict) or not isinstance(report.get("total"), dict):
        raise CommandError("the usage answer has no total")
    print_report(report)
    return 0


def print_report(report: Mapping[str, Any]) -> None:
    keys = KEY_COLUMNS.get(str(report.get("group_by")), ("DAY",))
    rows = [_row(_key_cells(g, keys), g) for g in report.get("groups") or []]
    rows.append(_row(["total", *[""] * (len(keys) - 1)], report["total"]))
    headers = (*keys, *(c.upper() for c in COLUMNS), "UNPRICED")
    print_table(headers, rows, right=range(len(keys), len(headers)))
    print(f"refused: {cell(report['total'].get('refused'))}")
    budget = report.get("budget")
    if isinstance(budget, dict):
        print(_budget_line(budget))


def _key_cells(group: Mapping[str, Any], keys: tuple[str, ...]) -> list[Any]:
    if len(keys) == 1:
        return [group.get("key")]
    return [group.get("day"), NONE if group.get("model") is None else group["model"]]


def _row(key: list[Any], group: Mapping[str, Any]) -> list[Any]:
    values = [group.get(c) for c in COLUMNS[:-1]]
    return [*key, *values, usd(group.get("cost_usd")), group.get("unpriced_requests")]


def _budget_line(budget: Mapping[str, Any]) -> str:
    month = budget.get("month") or NONE
    spent, reserved = usd(budget.get("spent_usd")), usd(budget.get("reserved_usd"))
    limit = budget.get("monthly_usd")
    of = "no budget" if limit is None else f"of {usd(limit)}"
    return f"budget {month}: spent {spent} USD, reserved {reserved} USD, {of}"
