"""The dashboard in a real headless browser: Debian's chromium driven by Playwright.

One gateway (`tenant-proxy serve`, gunicorn with two workers sharing a MariaDB store,
Redis for cross-worker revocation) and one browser serve the whole module. Every page a test
opens is watched: its console errors, uncaught exceptions and every request it makes
(all must go to the gateway on 127.0.0.1). Screenshots go to test-artifacts/dashboard/
(gitignored).

What a missing piece does: chromium (installed by .ci/run), Redis and MariaDB are
machine services, so under REQUIRE_SERVICES=1 their absence fails; so does an unbuilt
dashboard, because .ci/run installs node and `make test` builds it. Without
REQUIRE_SERVICES each skips with its reason.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from proxy.admin.ui import UI_DIST
from proxy.database_url import parse_database_url
from proxy.store.open import migrate_database, open_store
from proxy.store.usage import UsageRow, UsageTable, new_batch_id
from tests.conftest import (
    MYSQL_HOST,
    MYSQL_PORT,
    REDIS_TEST_URL,
    REQUIRE_SERVICES,
    drop_mysql_database,
    mysql_admin,
)
from tests.management_api import ADMIN_KEY, live_gateway

ROOT = Path(__file__).parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TENANTS = 250
FOCUS = "zebra-finance"  # the one tenant of 250 the tests look for (sorted last)
PRICED = {"input_cost_per_mtok": 2.5, "output_cost_per_mtok": 10.0}


def _missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _redis_answers() -> bool:
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(REDIS_TEST_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.flushdb()
        return True
    except (RedisError, OSError):
        return False
    finally:
        client.close()


@dataclass
class Gateway:
    url: str

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else orjson.dumps(body)
        request = urllib.request.Request(
            f"{self.url}/admin/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: {e.code} {e.read()[:500]!r}") from None
        return orjson.loads(raw) if raw else None

    def usage(self, tenant: str, start: str, end: str, group_by: str) -> Any:
        query = f"start={start}&end={end}&group_by={group_by}"
        return self.admin("GET", f"tenants/{tenant}/usage?{query}")


def tenant_document(i: int) -> dict[str, Any]:
    models = [
        {"model_name": "gpt-4o-mini", "provider": "mock", **PRICED},
        {"model_name": "claude-haiku", "provider": "mock", **PRICED},
    ]
    doc: dict[str, Any] = {"models": models}
    if i % 3 == 0:
        doc["budget"] = {"monthly_usd": 25.0 + i}
    if i % 5 == 0:
        doc["limits"] = {"rpm": 600, "tpm": 200000}
    return doc


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """`tenant-proxy serve` (two workers) in built-in-store mode with 250 tenants."""
    if not (UI_DIST / "index.html").is_file():
        _missing("the dashboard is not built (make ui: needs node and npm)")
    if not _redis_answers():
        _missing("Redis is not running on 127.0.0.1:6379")
    directory = tmp_path_factory.mktemp("dashboard")
    with mariadb_database() as database_url:
        with ThreadPoolExecutor(1) as thread:  # a loop of its own: Playwright's may run here
            thread.submit(asyncio.run, seed_history(database_url)).result()
        yield from _serving(directory, database_url)


@contextmanager
def mariadb_database() -> Iterator[str]:
    """A new database on the local MariaDB (the store several workers share), dropped after."""
    import pymysql

    name = f"tp_dashboard_{secrets.token_hex(6)}"
    try:
        mysql_admin(f"CREATE DATABASE {name}")
    except (OSError, pymysql.MySQLError):
        _missing(f"MariaDB is not running on {MYSQL_HOST}:{MYSQL_PORT} (user root)")
    try:
        yield f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}"
    finally:
        drop_mysql_database(name)


def _serving(directory: Path, database_url: str) -> Iterator[Gateway]:
    env = {"REDIS_URL": REDIS_TEST_URL, "PROXY_GRACEFUL_TIMEOUT": "3"}
    with live_gateway(directory, database_url=database_url, workers=2, **env) as running:
        gateway = Gateway(running.url)
        names = [f"tenant-{i:03d}" for i in range(TENANTS - 1)] + [FOCUS]
        for i, name in enumerate(names):
            gateway.admin("POST", "tenants", {"tenant_id": name, **tenant_document(i)})
        yield gateway


# FOCUS's past days (with gaps), as the ledger stores them: (days ago, model, requests).
HISTORY = [
    (1, "gpt-4o-mini", 4),
    (1, "claude-haiku", 1),
    (3, "gpt-4o-mini", 2),
    (6, "claude-haiku", 3),
]


async def seed_history(database_url: str) -> None:
    """Usage of earlier days, written through the ledger's own table before the start."""
    url = parse_database_url(database_url)
    await migrate_database(url, store_timeout=10)
    store = await open_store(url, None, store_timeout=10)
    now = datetime.now(UTC)
    rows = []
    for ago, model, requests in HISTORY:
        when = now - timedelta(days=ago)
        for n in range(requests):
            rows.append(history_row(f"{ago}-{model}-{n}", when, model, 120 + 7 * n, 40 + n))
    try:
        await UsageTable(store.backend, timeout=10).write(rows, new_batch_id())
    finally:
        await store.close()


def history_row(name: str, when: datetime, model: str, tokens_in: int, tokens_out: int) -> UsageRow:
    cost = -(-(tokens_in * 2_500_000 + tokens_out * 10_000_000) // 1_000_000)  # micro-USD, up
    return UsageRow(
        event_id=f"history-{name}", tenant_id=FOCUS, day=when.strftime("%Y-%m-%d"),
        ts_ms=int(when.timestamp() * 1000), request_id=f"req-{name}", model=model,
        upstream_model=model, provider="mock", endpoint="/v1/chat/completions", status=200,
        error=None, input_tokens=tokens_in, output_tokens=tokens_out, cached_tokens=0,
        cost_micro=cost, duration_ms=5.0, upstream_ms=1.0, stream=False,
        usage_estimated=False, attempts=1, forwarded=True, refused=False, unpriced=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module (Debian's: Playwright downloads none)."""
    if not shutil.which(CHROMIUM):
        _missing(f"chromium is not installed ({CHROMIUM}; apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


# What the page's DOM must not hold, whatever it drew: code or style in the document.
INLINE_CODE = """[...document.querySelectorAll('*')].flatMap((el) => [
  ...[...el.attributes].filter((a) => /^on/i.test(a.name)).map((a) => el.tagName + ' ' + a.name),
  ...(el.tagName === 'SCRIPT' && (!el.src || el.textContent.trim()) ? ['inline script'] : []),
  ...(el.tagName === 'STYLE' ? ['style element'] : []),
])"""


@dataclass
class Watch:
    """What a page did: console errors, uncaught exceptions, every request's URL."""

    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    allowed_statuses: set[int] = field(default_factory=set)

    def allow_status(self, status: int) -> None:
        """An API answer this test provokes (Chrome logs every 4xx as a console error)."""
        self.allowed_statuses.add(status)

    def on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        failed = re.match(r"Failed to load resource: .* status of (\d+)", message.text)
        if failed and int(failed.group(1)) in self.allowed_statuses:
            return
        self.errors.append(message.text)

    def check(self) -> None:
        assert self.errors == [], "console errors or uncaught exceptions"
        assert self.requests, "the page made no request"
        foreign = [u for u in self.requests if not _same_gateway(u, self.origin)]
        assert foreign == [], "requests that left the gateway on 127.0.0.1"


def _same_gateway(url: str, origin: str) -> bool:
    if url.startswith(("data:", "blob:", "about:")):
        return True  # in-page resources (Chart.js draws on canvas), never a network request
    parts, home = urlsplit(url), urlsplit(origin)
    return (parts.scheme, parts.hostname, parts.port) == ("http", "127.0.0.1", home.port)


@dataclass
class Dashboard:
    page: Any
    watch: Watch
    gateway: Gateway

    def open(self, hash_path: str = "") -> None:
        self.page.goto(f"{self.gateway.url}/admin/ui/{hash_path}")

    def sign_in(self, key: str = ADMIN_KEY, *, accepted: bool = True) -> None:
        self.open()
        self.page.fill("#admin-key", key)
        self.page.press("#admin-key", "Enter")
        if accepted:
            self.page.locator("#tenants-title").wait_for()

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def dashboard(browser: Any, gateway: Gateway) -> Iterator[Dashboard]:
    """A fresh tab (its own sessionStorage) at 1280 px, watched; checked at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(gateway.url)
    page.on("console", watch.on_console)
    page.on("pageerror", lambda e: watch.errors.append(f"uncaught: {e}"))
    page.on("request", lambda r: watch.requests.append(r.url))
    page.on("dialog", lambda d: d.accept())  # the revoke confirmation
    page.set_default_timeout(10_000)
    try:
        yield Dashboard(page, watch, gateway)
        assert page.evaluate(INLINE_CODE) == [], "inline script, style or on*= attributes"
        watch.check()
    finally:
        context.close()
