"""GET /admin/tenants/{id}/usage: the metering API (SPEC 7, 8.1), read from the ledger's
daily rollups (proxy.store.usage) and the month counters admission keeps.

`start` and `end` are inclusive UTC dates (YYYY-MM-DD). Without both: the current UTC
month; `start` alone runs to the end of its month, `end` alone from the first of its
month. A range over MAX_DAYS days, `end` before `start`, or a date that is not one is
400 `invalid_request_error`. `group_by` is `day` (default), `model` or `day,model`;
every group carries `key` and, as grouped, `day` and/or `model` (null for requests
that named no model; their key shows `(none)`); the key of `day,model` is
"<day> <model>". Groups are sorted by key and only days/models with forwarded requests
appear; refusals are in `total.refused`. Amounts are micro-USD inside and USD numbers
(micro / 1e6) in the answer. An id that never had a tenant or usage is 404; a deleted
tenant's usage stays.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from proxy import keys
from proxy.accounting.month_spend import MonthSpend
from proxy.admin.bodies import json_response
from proxy.admin.routing import GuardedRoutes
from proxy.errors import InvalidRequestError, NotFoundError
from proxy.store import TENANT_ID
from proxy.store.usage import GROUPINGS, NO_MODEL, UsageGroup, UsageSums

MAX_DAYS = 366
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def add_routes(router: GuardedRoutes) -> None:
    router.add_get("/tenants/{tenant_id}/usage", usage_report)


async def usage_report(request: web.Request) -> web.Response:
    tenant_id = request.match_info["tenant_id"]
    now = time.time()
    start, end = report_range(request.query, _utc_day(now))
    group_by = request.query.get("group_by", "day")
    if group_by not in GROUPINGS:
        raise InvalidRequestError("group_by must be day, model or day,model.", param="group_by")
    app = request.config_dict
    table = app[keys.USAGE]
    known = TENANT_ID.fullmatch(tenant_id) is not None
    row = await app[keys.STORE].get_tenant(tenant_id) if known else None
    if row is None and not (known and await table.has_usage(tenant_id)):
        raise NotFoundError(f"No tenant and no usage for {tenant_id!r}.")
    first, last = start.isoformat(), end.isoformat()
    groups = await table.groups(tenant_id, first, last, GROUPINGS[group_by])
    totals = await table.groups(tenant_id, first, last, ())
    total = totals[0].sums if totals else UsageSums()
    month = time.strftime("%Y-%m", time.gmtime(now))
    spend = MonthSpend(app[keys.QUOTA], app.get(keys.REDIS), app.get(keys.REDIS_GATE))
    spent, reserved = await spend.read(tenant_id, month)
    budget = row.document.get("budget") if row is not None else None
    limit = budget.get("monthly_usd") if isinstance(budget, dict) else None
    report = {
        "tenant_id": tenant_id,
        "start": first,
        "end": last,
        "group_by": group_by,
        "groups": group_list(groups),
        "total": {**figures(total), "refused": total.refused},
        "budget": {
            "month": month,
            "monthly_usd": limit,
            "spent_usd": spent / 1_000_000,
            "reserved_usd": reserved / 1_000_000,
        },
    }
    return json_response(report)


def report_range(query: Mapping[str, str], today: date) -> tuple[date, date]:
    """The inclusive UTC dates asked for (see the module docstring)."""
    start = _date(query, "start")
    end = _date(query, "end")
    if start is None and end is None:
        start = today.replace(day=1)
    if start is None:
        assert end is not None
        start = end.replace(day=1)
    if end is None:
        end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
    if end < start:
        raise InvalidRequestError(f"end {end} is before start {start}.", param="end")
    if (end - start) >= timedelta(days=MAX_DAYS):
        raise InvalidRequestError(
            f"The range from {start} to {end} is longer than {MAX_DAYS} days.", param="end"
        )
    return start, end


def _date(query: Mapping[str, str], name: str) -> date | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        if _DATE.fullmatch(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise InvalidRequestError(f"{name} must be a date YYYY-MM-DD.", param=name)


def _utc_day(now: float) -> date:
    return date(*time.gmtime(now)[:3])


def figures(sums: UsageSums) -> dict[str, Any]:
    """SPEC 8.1's figures; the cost in USD."""
    return {
        "requests": sums.requests,
        "input_tokens": sums.input_tokens,
        "output_tokens": sums.output_tokens,
        "cached_tokens": sums.cached_tokens,
        "cost_usd": sums.cost_micro / 1_000_000,
        "unpriced_requests": sums.unpriced_requests,
    }


def group_list(groups: list[UsageGroup]) -> list[dict[str, Any]]:
    """Groups with forwarded requests, each with its key (and day/model), by key."""
    shown = []
    for group in groups:
        if group.sums.requests == 0:
            continue
        parts: dict[str, Any] = {}
        if group.day is not None:
            parts["day"] = group.day
        if group.model is not None:
            parts["model"] = group.model or None
        key = " ".join((NO_MODEL if v is None else str(v)) for v in parts.values())
        shown.append({"key": key, **parts, **figures(group.sums)})
    shown.sort(key=lambda g: g["key"])
    return shown
