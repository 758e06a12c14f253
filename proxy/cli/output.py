"""What management commands print: aligned tables and documents for people, JSON for
scripts. Standard library only (YAML, for documents, is imported when one is shown).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

NONE = "-"


def print_json(answer: Any, out: TextIO | None = None) -> None:
    """The API's JSON answer; None (a 204) prints nothing."""
    if answer is not None:
        print(json.dumps(answer, indent=2, ensure_ascii=False), file=out or sys.stdout)


def cell(value: Any) -> str:
    """A table cell: absent and null are `-`; lists are comma-joined."""
    if value is None or value == [] or value == "":
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(cell(v) for v in value)
    return str(value)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, right: Iterable[int] = ()
) -> str:
    """Columns padded to their widest cell, two spaces apart; `right` columns (numbers)
    are right-aligned. The header row is always there, even for no rows."""
    cells = [list(headers)] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    aligned = set(right)
    lines = []
    for row in cells:
        parts = [
            c.rjust(widths[i]) if i in aligned else c.ljust(widths[i]) for i, c in enumerate(row)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, right: Iterable[int] = ()
) -> None:
    print(table(headers, rows, right=right))


def print_document(document: Mapping[str, Any]) -> None:
    """A document (a tenant, a minted token) as block YAML, in the API's key order."""
    import yaml

    text = yaml.safe_dump(
        dict(document), sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    sys.stdout.write(text)


def usd(value: Any) -> str:
    """An amount in USD to the micro-dollar the API counts in; null is `-`."""
    if value is None:
        return NONE
    return f"{float(value):.6f}"
