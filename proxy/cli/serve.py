"""`tenant-proxy serve` and `tenant-proxy check-config`.

Options that configure the server are written to the environment before
`Settings.from_env()` runs, so gunicorn workers see the same values.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxy.cli.client import Commands
    from proxy.settings import Settings


def add_commands(commands: Commands, api_options: argparse.ArgumentParser) -> None:
    serve = commands.add_parser("serve", help="run the gateway (gunicorn, one worker per CPU)")
    serve.add_argument("--dev", action="store_true", help="one process, no gunicorn")
    serve.add_argument("--config", help="static-mode YAML file (default: $PROXY_CONFIG)")
    serve.add_argument("--host", help="listen address (default: $PROXY_HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="listen port (default: $PROXY_PORT or 8080)")
    serve.add_argument("--workers", type=int, help="gunicorn workers (default: $PROXY_WORKERS)")
    serve.set_defaults(run=_serve, parser=serve)
    check = commands.add_parser("check-config", help="validate the settings and static config")
    check.add_argument("--config", help="static-mode YAML file (default: $PROXY_CONFIG)")
    check.set_defaults(run=_check_config, parser=check)


def _apply_overrides(args: argparse.Namespace) -> None:
    overrides = {
        "PROXY_CONFIG": getattr(args, "config", None),
        "PROXY_HOST": getattr(args, "host", None),
        "PROXY_PORT": getattr(args, "port", None),
        "PROXY_WORKERS": getattr(args, "workers", None),
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = str(value)


def _load_settings(args: argparse.Namespace) -> Settings | None:
    _apply_overrides(args)
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


def _serve(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = _load_settings(args)
    if settings is None:
        return 1
    from proxy import serving

    if args.dev:
        serving.run_dev(settings)
    else:
        serving.run_gunicorn(settings)
    return 0


def _check_config(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = _load_settings(args)
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
