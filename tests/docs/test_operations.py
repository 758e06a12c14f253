"""docs/operations.md lists every 5xx answer the gateway can make (status and code, as
proxy/errors.py defines them), and every metric the gateway exports."""

from __future__ import annotations

import re

from proxy import errors
from tests.docs.openapi import DOCS

PAGE = (DOCS / "operations.md").read_text()


def _subclasses(cls: type) -> list[type]:
    return [sub for child in cls.__subclasses__() for sub in (child, *_subclasses(child))]


def server_errors() -> set[tuple[int, str, str]]:
    """(status, type, code) of every ProxyError answered with a 5xx."""
    classes = [errors.ProxyError, *_subclasses(errors.ProxyError)]
    return {(c.status, c.error_type, c.code) for c in classes if c.status >= 500 and c.code}


def documented_rows() -> set[tuple[int, str, str]]:
    row = re.compile(r"^\| (5\d\d) \| `(\w+)` \| `(\w+)` \|", re.M)
    return {(int(status), kind, code) for status, kind, code in row.findall(PAGE)}


def test_every_5xx_of_the_error_tree_is_explained():
    missing = server_errors() - documented_rows()
    assert not missing, f"add these to docs/operations.md, 'What each 5xx means': {missing}"


def test_the_page_lists_no_5xx_the_gateway_does_not_make():
    assert documented_rows() - server_errors() == set()


def test_the_known_codes_are_there():
    codes = {code for _, _, code in documented_rows()}
    assert {"upstream_timeout", "store_unavailable", "config_invalid", "internal_error"} <= codes


async def test_every_exported_metric_is_listed(make_proxy, receiver, redis_client):
    from tests.conftest import REDIS_TEST_URL

    client = await make_proxy(
        {"default": {"provider": "mock"}, "budget": {"monthly_usd": 5}},
        TELEMETRY_WEBHOOK_URL=receiver.url,
        REDIS_URL=REDIS_TEST_URL,
        PROXY_GRACEFUL_TIMEOUT="1",
    )
    text = await (await client.get("/metrics")).text()
    found = set(re.findall(r"^# TYPE (tenant_proxy_\w+) ", text, re.M))
    names = {name for name in found if not name.endswith("_created")}
    assert {"tenant_proxy_budget_events_total", "tenant_proxy_telemetry_queued"} <= names
    for name in names:
        assert name in PAGE, f"{name} is exported but not in docs/operations.md"
