"""`tenant-proxy tokens mint|list|revoke` (SPEC 6, 7.1): a tenant's proxy tokens.

`mint` prints the token once (the API keeps only its SHA-256); `list` never shows a
token, only its id, name and times.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from proxy.cli.client import connect, segment
from proxy.cli.listing import collect, limit_option, positive_int
from proxy.cli.output import print_json, print_table

if TYPE_CHECKING:
    from proxy.cli.client import Commands

NOT_SHOWN_AGAIN = "This token will not be shown again: store it now."


def add_commands(commands: Commands, api_options: argparse.ArgumentParser) -> None:
    group = commands.add_parser("tokens", help="a tenant's proxy tokens")
    sub = group.add_subparsers(dest="tokens_command", required=True, metavar="TOKENS_COMMAND")
    mint = sub.add_parser("mint", parents=[api_options], help="mint a token (shown once)")
    mint.add_argument("tenant_id", metavar="TENANT_ID")
    mint.add_argument(
        "--ttl", type=positive_int, metavar="SECONDS", help="lifetime (API default: 3600)"
    )
    mint.add_argument("--name", metavar="NAME", help="a label for people")
    mint.set_defaults(run=_mint, parser=mint)
    listing = sub.add_parser("list", parents=[api_options], help="list a tenant's tokens")
    listing.add_argument("tenant_id", metavar="TENANT_ID")
    limit_option(listing, "tokens")
    listing.set_defaults(run=_list, parser=listing)
    revoke = sub.add_parser("revoke", parents=[api_options], help="revoke a token")
    revoke.add_argument("tenant_id", metavar="TENANT_ID")
    revoke.add_argument("token_id", metavar="TOKEN_ID")
    revoke.set_defaults(run=_revoke, parser=revoke)


def _tokens_path(tenant_id: str) -> str:
    return f"/admin/tenants/{segment(tenant_id)}/tokens"


def _mint(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    body: dict[str, Any] = {}
    if args.ttl is not None:
        body["ttl_s"] = args.ttl
    if args.name is not None:
        body["name"] = args.name
    client = connect(args, environ)
    minted = client.post(_tokens_path(args.tenant_id), body)
    if args.json:
        print_json(minted)
        return 0
    fields = ("token_id", "tenant_id", "name", "expires_at", "token")
    print_table(("FIELD", "VALUE"), ((f, minted.get(f)) for f in fields))
    print(NOT_SHOWN_AGAIN)
    return 0


def _list(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    client = connect(args, environ)
    tokens, cursor = collect(client, _tokens_path(args.tenant_id), args.limit)
    if args.json:
        print_json({"data": tokens, "next_cursor": cursor})
        return 0
    fields = ("token_id", "name", "created_at", "expires_at", "revoked_at")
    print_table([f.upper() for f in fields], ([t.get(f) for f in fields] for t in tokens))
    return 0


def _revoke(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    client = connect(args, environ)
    answer = client.delete(f"{_tokens_path(args.tenant_id)}/{segment(args.token_id)}")
    if args.json:
        print_json(answer)
    else:
        print(f"revoked token {args.token_id} of tenant {args.tenant_id}")
    return 0
