"""`tenant-proxy tenants create|list|show|update|delete` (SPEC 7.1).

`create` and `update` read `--config FILE` (JSON or YAML; `-` is stdin): the tenant
document for `create` (section 3's fields; `tenant_id` comes from the argument), a
JSON merge patch (RFC 7396) for `update`. `list` follows `next_cursor` until the end
or `--limit` tenants.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from proxy.cli.client import UsageError, connect, segment
from proxy.cli.listing import collect, limit_option
from proxy.cli.output import print_document, print_json, print_table

if TYPE_CHECKING:
    from proxy.cli.client import Commands


def add_commands(commands: Commands, api_options: argparse.ArgumentParser) -> None:
    group = commands.add_parser("tenants", help="the built-in store's tenants")
    sub = group.add_subparsers(dest="tenants_command", required=True, metavar="TENANTS_COMMAND")
    create = sub.add_parser("create", parents=[api_options], help="create a tenant")
    create.add_argument("tenant_id", metavar="TENANT_ID")
    create.add_argument(
        "--config", required=True, metavar="FILE", help="the tenant document (JSON or YAML)"
    )
    create.set_defaults(run=_create, parser=create)
    listing = sub.add_parser("list", parents=[api_options], help="list the tenants")
    limit_option(listing, "tenants")
    listing.set_defaults(run=_list, parser=listing)
    show = sub.add_parser("show", parents=[api_options], help="show a tenant's document")
    show.add_argument("tenant_id", metavar="TENANT_ID")
    show.set_defaults(run=_show, parser=show)
    update = sub.add_parser("update", parents=[api_options], help="change a tenant")
    update.add_argument("tenant_id", metavar="TENANT_ID")
    update.add_argument(
        "--config", required=True, metavar="FILE", help="a JSON merge patch (JSON or YAML)"
    )
    update.set_defaults(run=_update, parser=update)
    delete = sub.add_parser("delete", parents=[api_options], help="delete a tenant")
    delete.add_argument("tenant_id", metavar="TENANT_ID")
    delete.set_defaults(run=_delete, parser=delete)


def _create(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    document = read_document(args.config)
    if document.get("tenant_id", args.tenant_id) != args.tenant_id:
        raise UsageError(
            f"{args.config} names tenant_id {document['tenant_id']!r}, "
            f"the command {args.tenant_id!r}"
        )
    client = connect(args, environ)
    tenant = client.post("/admin/tenants", {"tenant_id": args.tenant_id, **document})
    _show_tenant(args, tenant, f"created tenant {args.tenant_id}")
    return 0


def _list(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    client = connect(args, environ)
    tenants, cursor = collect(client, "/admin/tenants", args.limit)
    if args.json:
        print_json({"data": tenants, "next_cursor": cursor})
        return 0
    print_table(
        ("TENANT_ID", "MODELS", "DEFAULT", "BUDGET_USD", "RPM", "TPM", "UPDATED_AT"),
        (_tenant_row(t) for t in tenants),
        right=(3, 4, 5),
    )
    return 0


def _tenant_row(tenant: Mapping[str, Any]) -> tuple[Any, ...]:
    models = [m.get("model_name") for m in tenant.get("models") or [] if isinstance(m, dict)]
    default = tenant.get("default") or {}
    budget = tenant.get("budget") or {}
    limits = tenant.get("limits") or {}
    return (
        tenant.get("tenant_id"),
        models,
        default.get("provider") if isinstance(default, dict) else None,
        budget.get("monthly_usd") if isinstance(budget, dict) else None,
        limits.get("rpm") if isinstance(limits, dict) else None,
        limits.get("tpm") if isinstance(limits, dict) else None,
        tenant.get("updated_at"),
    )


def _show(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    client = connect(args, environ)
    _show_tenant(args, client.get(f"/admin/tenants/{segment(args.tenant_id)}"), None)
    return 0


def _update(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    patch = read_document(args.config)
    client = connect(args, environ)
    tenant = client.patch(f"/admin/tenants/{segment(args.tenant_id)}", patch)
    _show_tenant(args, tenant, f"updated tenant {args.tenant_id}")
    return 0


def _delete(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    client = connect(args, environ)
    answer = client.delete(f"/admin/tenants/{segment(args.tenant_id)}")
    if args.json:
        print_json(answer)
    else:
        print(f"deleted tenant {args.tenant_id}")
    return 0


def _show_tenant(args: argparse.Namespace, tenant: Any, headline: str | None) -> None:
    if args.json:
        print_json(tenant)
        return
    if headline:
        print(headline)
    print_document(tenant)


def read_document(path: str) -> dict[str, Any]:
    """`--config FILE`: a JSON or YAML mapping (`-` reads stdin); UsageError otherwise."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--config {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        document = json.loads(text)
    except ValueError:
        document = _yaml(path, text)
    if not isinstance(document, dict):
        raise UsageError(f"--config {path}: not a JSON or YAML mapping (object)")
    return document


def _yaml(path: str, text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise UsageError(f"--config {path}: neither JSON nor YAML{line}") from None
