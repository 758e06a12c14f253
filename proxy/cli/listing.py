"""Listings of the management API (`{"data": [...], "next_cursor": ...}`), read whole:
`tenants list` and `tokens list` follow `next_cursor` until the end or `--limit` items.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from proxy.cli.client import CommandError

if TYPE_CHECKING:
    from proxy.cli.client import AdminClient

MAX_PAGE = 1000  # the API's largest ?limit=


def limit_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--limit", type=positive_int, metavar="N", help=f"at most N {what} (default: all)"
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def collect(client: AdminClient, path: str, limit: int | None) -> tuple[list[Any], str | None]:
    """Every item of a listing (or the first `limit`), and the cursor after the last one
    returned (None at the end)."""
    items: list[Any] = []
    cursor: str | None = None
    for page in _pages(client, path, limit):
        items.extend(page["data"])
        cursor = page.get("next_cursor")
    return items, cursor


def _pages(client: AdminClient, path: str, limit: int | None) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    left = limit
    while True:
        query: dict[str, str | int] = {"limit": min(left or MAX_PAGE, MAX_PAGE)}
        if cursor:
            query["cursor"] = cursor
        page = client.get(path, query)
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise CommandError(f"GET {path} answered something other than a listing")
        yield page
        if left is not None:
            left -= len(page["data"])
        cursor = page.get("next_cursor")
        if not cursor or not page["data"] or (left is not None and left <= 0):
            return
