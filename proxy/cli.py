"""The `tenant-proxy` command (also `python -m proxy`).

Exit codes: 0 success, 1 a failure (its message on stderr), 2 a usage error.
Options that configure the server are written to the environment before
`Settings.from_env()` runs, so gunicorn workers see the same values.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxy.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tenant-proxy", description="Multi-tenant, OpenAI-compatible LLM API gateway."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the gateway (gunicorn, one worker per CPU)")
    serve.add_argument("--dev", action="store_true", help="one process, no gunicorn")
    serve.add_argument("--config", help="static-mode YAML file (default: $PROXY_CONFIG)")
    serve.add_argument("--host", help="listen address (default: $PROXY_HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="listen port (default: $PROXY_PORT or 8080)")
    serve.add_argument("--workers", type=int, help="gunicorn workers (default: $PROXY_WORKERS)")
    check = commands.add_parser("check-config", help="validate the settings and static config")
    check.add_argument("--config", help="static-mode YAML file (default: $PROXY_CONFIG)")
    db = commands.add_parser("db", help="the built-in tenant store's schema ($DATABASE_URL)")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    db_commands.add_parser("migrate", help="create or upgrade the schema (idempotent)")
    keys = commands.add_parser("keys", help="the store's encryption keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="KEYS_COMMAND")
    keys_commands.add_parser(
        "rotate", help="re-encrypt every tenant's keys under the first key of the ring"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {
        "PROXY_CONFIG": getattr(args, "config", None),
        "PROXY_HOST": getattr(args, "host", None),
        "PROXY_PORT": getattr(args, "port", None),
        "PROXY_WORKERS": getattr(args, "workers", None),
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = str(value)
    if args.command == "serve":
        return _serve(dev=args.dev)
    if args.command in ("db", "keys"):
        from proxy.store_commands import run_store_command

        sub = args.db_command if args.command == "db" else args.keys_command
        return run_store_command(f"{args.command} {sub}")
    return _check_config()


def _load_settings() -> Settings | None:
    from proxy.settings import Settings, SettingsError
    from proxy.tenancy.static import StaticConfigError, load_static_config
    from proxy.tenancy.tokens import load_public_key

    try:
        settings = Settings.from_env()
        if settings.mode == "static":
            load_static_config(settings.tenancy.config_path, settings.tenancy.environ)
        elif settings.auth.jwt_public_key:
            try:
                load_public_key(settings.auth.jwt_public_key)
            except (OSError, ValueError) as e:
                raise SettingsError(f"AUTH_JWT_PUBLIC_KEY: {e}") from None
    except (SettingsError, StaticConfigError) as e:
        print(f"tenant-proxy: {e}", file=sys.stderr)
        return None
    return settings


def _serve(*, dev: bool) -> int:
    settings = _load_settings()
    if settings is None:
        return 1
    from proxy import serving

    if dev:
        serving.run_dev(settings)
    else:
        serving.run_gunicorn(settings)
    return 0


def _check_config() -> int:
    settings = _load_settings()
    if settings is None:
        return 1
    from proxy.redaction import display_url

    where = (
        settings.tenancy.config_path
        if settings.mode == "static"
        else display_url(settings.tenancy.config_api_url or "")
    )
    print(f"ok: {settings.mode} mode, config {where}")
    return 0
