"""`tenant-proxy db migrate` and `tenant-proxy keys rotate`: on the store directly, not
over the management API (SPEC 7.1).

Both read only DATABASE_URL, STORE_TIMEOUT and the key variables. Exit 0 on success,
1 on a failure (one line on stderr, no traceback).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from proxy.database_url import parse_database_url
from proxy.errors import ProxyError
from proxy.keyring import KeyRing
from proxy.settings import Settings, SettingsError
from proxy.store import StoreSetupError
from proxy.store.open import migrate_database, open_store
from proxy.store.rotation import RotationReport, rotate_keys


def run_store_command(command: str, *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        settings = Settings.for_store_commands()
        if command == "db migrate":
            return asyncio.run(_migrate(settings, out))
        return asyncio.run(_rotate(settings, out))
    except (SettingsError, StoreSetupError, ProxyError) as e:
        print(f"tenant-proxy: {e}", file=sys.stderr)
        return 1


async def _migrate(settings: Settings, out: TextIO) -> int:
    url = parse_database_url(settings.store.database_url or "")
    before, after = await migrate_database(url, store_timeout=settings.store.timeout)
    if before == after:
        print(f"{url.display()}: schema already at version {after}, nothing to do", file=out)
    else:
        print(f"{url.display()}: schema migrated from version {before} to {after}", file=out)
    return 0


async def _rotate(settings: Settings, out: TextIO) -> int:
    if not settings.tenancy.encryption_keys:
        raise SettingsError("keys rotate needs PROXY_ENCRYPTION_KEYS (or PROXY_ENCRYPTION_KEY)")
    url = parse_database_url(settings.store.database_url or "")
    ring = KeyRing(settings.tenancy.encryption_keys)
    store = await open_store(url, ring, store_timeout=settings.store.timeout)
    try:
        report = await rotate_keys(store, progress=lambda r: _progress(r, out))
    finally:
        await store.close()
    print(report.line() + f"; every readable key is under {ring.sealing_key_id!r}", file=out)
    for tenant_id, key_id in report.unreadable:
        print(
            f"tenant-proxy: tenant {tenant_id!r}: sealed under key id {key_id!r}, "
            "which is not in the key ring: left as is",
            file=sys.stderr,
        )
    return 1 if report.unreadable else 0


def _progress(report: RotationReport, out: TextIO) -> None:
    print(report.line(), file=out, flush=True)
