"""The `tenant-proxy` command (also `python -m proxy`): one module per command group.

    serve, check-config      cli.serve    the gateway itself
    tenants ...              cli.tenants  } over the management API (SPEC 7, 7.1),
    tokens ...               cli.tokens   } with cli.client (HTTP) and cli.output
    usage TENANT_ID ...      cli.usage    } (tables, documents, --json)
    cache invalidate USER_ID cli.cache    }
    db migrate, keys rotate  cli.db       on the store directly (DATABASE_URL)

Each group module has `add_commands(commands, api_options)`, which adds its
subparsers and sets `run(args, environ) -> int` on each. Exit codes: 0 success,
1 a failure (one line on stderr, no traceback), 2 a usage error.

Start-up stays fast (`tenant-proxy --help` imports only argparse and these modules):
HTTP, YAML, settings and the server are imported by the command that needs them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from proxy.cli import cache, db, serve, tenants, tokens, usage
from proxy.cli.client import CommandError, UsageError, api_options

GROUPS = (serve, tenants, tokens, usage, cache, db)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tenant-proxy",
        description="Multi-tenant, OpenAI-compatible LLM API gateway.",
        epilog="Management commands call the API at --url (default: $PROXY_URL, else "
        "http://127.0.0.1:8080) with the admin key from $PROXY_ADMIN_KEY. "
        "Exit codes: 0 success, 1 failure, 2 usage error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = api_options()
    for group in GROUPS:
        group.add_commands(commands, shared)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args, os.environ if environ is None else environ)
    except UsageError as e:
        args.parser.error(str(e))  # the subcommand's usage line, then exit 2
    except CommandError as e:
        print(f"tenant-proxy: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
