"""The admission stage: may this request be forwarded, and what does it reserve?

It runs once the route is known and before the exchange. `AdmitAll` lets every
request through without waiting (no budgets or limits anywhere: the stage costs
nothing); `accounting.quota.QuotaAdmission` enforces budgets and RPM/TPM limits,
reserving against Redis (or this process) and refusing with 429 and `Retry-After`.
The wiring picks the implementation. What `admit` returns is the handle the edge
hands to settlement, which releases it with the actual cost.
"""

from __future__ import annotations

from typing import Protocol

from proxy.accounting.quota import Quota, Reservation
from proxy.body import RequestBody
from proxy.route import Route
from proxy.usage_record import UsageRecord


class Admission(Protocol):
    def admit(
        self, record: UsageRecord, route: Route, body: RequestBody, quota: Quota
    ) -> Reservation | None:
        """Admit the request or raise a ProxyError. None: admitted at once, nothing held.
        A Reservation: await it (it raises a refusal), then settle it, whatever happens."""


class AdmitAll:
    """No budgets or limits: every request is admitted at once."""

    def admit(self, record: UsageRecord, route: Route, body: RequestBody, quota: Quota) -> None:
        return None
