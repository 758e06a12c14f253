"""`tenant-proxy cache invalidate USER_ID`: `DELETE /admin/cache/users/{id}` (SPEC 4):
every worker of every replica drops the user's cached config."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from proxy.cli.client import connect, segment
from proxy.cli.output import print_json

if TYPE_CHECKING:
    from proxy.cli.client import Commands


def add_commands(commands: Commands, api_options: argparse.ArgumentParser) -> None:
    group = commands.add_parser("cache", help="the gateway's config cache")
    sub = group.add_subparsers(dest="cache_command", required=True, metavar="CACHE_COMMAND")
    invalidate = sub.add_parser(
        "invalidate", parents=[api_options], help="drop a user's cached config everywhere"
    )
    invalidate.add_argument("user_id", metavar="USER_ID")
    invalidate.set_defaults(run=_invalidate, parser=invalidate)


def _invalidate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    client = connect(args, environ)
    answer = client.delete(f"/admin/cache/users/{segment(args.user_id)}")
    if args.json:
        print_json(answer)
    else:
        print(f"invalidated the cached config of user {args.user_id}")
    return 0
