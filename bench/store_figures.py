"""Store figures (issue #13): 10,000 sequential creates, then the median time to list a
page of 100 out of 10,000 tenants, on SQLite and on MySQL.

    python -m bench.store_figures --sqlite /tmp/t.db --mysql mysql://root@127.0.0.1:3306/db
(the MySQL database must exist and be empty; its schema is migrated here.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time

from proxy.database_url import StoreURL, parse_database_url
from proxy.keyring import KeyRing
from proxy.store.open import migrate_database, open_store

DOC = {
    "models": [
        {
            "model_name": "gpt-4o-mini",
            "provider": "openai",
            "api_base": "https://api.openai.com",
            "api_key": "sk-bench-key-000000000001",
            "input_cost_per_mtok": 0.15,
        }
    ],
    "budget": {"monthly_usd": 100.0},
    "limits": {"rpm": 600, "tpm": 200000},
}


async def measure(url: StoreURL, tenants: int, pages: int) -> str:
    await migrate_database(url, store_timeout=5)
    store = await open_store(url, KeyRing((("k1", os.urandom(32)),)), store_timeout=5)
    try:
        started = time.perf_counter()
        for i in range(tenants):
            await store.create_tenant(f"tenant-{i:05d}", DOC)
        creates = time.perf_counter() - started
        cursors = [None]
        page = await store.list_tenants(limit=100)
        while page.next_cursor:
            cursors.append(page.next_cursor)
            page = await store.list_tenants(limit=100, cursor=page.next_cursor)
        times = []
        for _ in range(pages):
            cursor = random.choice(cursors)
            t0 = time.perf_counter()
            got = await store.list_tenants(limit=100, cursor=cursor)
            times.append(time.perf_counter() - t0)
            assert len(got.rows) == 100
    finally:
        await store.close()
    return (
        f"{url.display()}: {tenants} sequential creates in {creates:.1f} s "
        f"({creates / tenants * 1000:.2f} ms each); list 100 of {tenants}: median "
        f"{statistics.median(times) * 1000:.2f} ms, p95 "
        f"{sorted(times)[int(len(times) * 0.95)] * 1000:.2f} ms over {pages} pages"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sqlite", help="a new SQLite file")
    parser.add_argument("--mysql", help="mysql://... of an existing, empty database")
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    for raw in (f"sqlite:///{args.sqlite}" if args.sqlite else None, args.mysql):
        if raw:
            print(asyncio.run(measure(parse_database_url(raw), args.tenants, args.pages)))


if __name__ == "__main__":
    main()
