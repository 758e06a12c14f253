"""The admission stage: may this request be forwarded, and what does it reserve?

It runs once the route is known and before the exchange: the seam where budgets
(reserve against the month's spend, SPEC 8) and RPM/TPM limits will admit or
refuse a request (429 with `Retry-After`). Today nothing is enforced and
`AdmitAll` lets every request through without waiting; the wiring picks the
implementation.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from proxy.body import RequestBody
from proxy.route import Route
from proxy.usage_record import UsageRecord


class Admission(Protocol):
    def admit(self, record: UsageRecord, route: Route, body: RequestBody) -> Awaitable[None] | None:
        """Admit the request or raise a ProxyError; an awaitable when admitting means
        waiting (on Redis), None when it was decided at once."""


class AdmitAll:
    """No budgets or limits: every request is admitted at once."""

    def admit(self, record: UsageRecord, route: Route, body: RequestBody) -> None:
        return None
