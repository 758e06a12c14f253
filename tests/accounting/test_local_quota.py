"""Budgets and limits without Redis: each process counts what it served, decided at
once (no await), with the same rules as the Redis script."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from proxy.accounting.cost import PriceBook
from proxy.accounting.local_quota import LocalQuota
from proxy.accounting.quota import QuotaAdmission, Reservation
from proxy.body import inspect_body
from proxy.errors import BudgetExceededError, RateLimitedError
from proxy.route import Route
from proxy.tenancy.config import TenantConfig
from proxy.usage_record import UsageRecord

NOW = datetime(2026, 11, 30, 23, 0, tzinfo=UTC).timestamp()
ROUTE = Route(
    provider="openai",
    api_base="http://x",
    model_name="m",
    input_cost_per_mtok=1.0,
    output_cost_per_mtok=1.0,
)
BODY = inspect_body(
    b'{"model":"m","max_tokens":100,"pad":"xxxxxxxxxxxxxxxxxxx"}', "application/json"
)
ESTIMATE = 15 + 100


class Clock:
    now = NOW

    def __call__(self) -> float:
        return self.now


def _admit(gate: QuotaAdmission, n: int, config: TenantConfig) -> Reservation:
    r = gate.admit(UsageRecord(f"ev{n}", "r", NOW, "POST", "/v1/x"), ROUTE, BODY, config)
    assert r is not None and r.state != Reservation.PENDING  # decided at once
    return r


def test_a_budget_is_kept_per_process_and_settled_to_the_actual_cost():
    local, clock = LocalQuota(), Clock()
    gate = QuotaAdmission(local, PriceBook(), default_max_tokens=4096, clock=clock)
    config = TenantConfig({}, budget_monthly_usd=2 * ESTIMATE / 1e6)
    first, second, third = (_admit(gate, n, config) for n in range(3))
    assert [r.state for r in (first, second)] == [Reservation.LOCAL] * 2
    assert isinstance(third.error, BudgetExceededError) and third.error.retry_after == 3600
    local.settle(first, 15, 15)
    assert local.spent_micro("static", "2026-11") == 15
    assert local.reserved_micro("static", "2026-11") == ESTIMATE
    assert _admit(gate, 4, config).error is not None  # 15 + 115 + 115 > 230
    local.settle(second, 0, 0)  # an upstream error: costs nothing, releases its estimate
    assert _admit(gate, 5, config).error is None  # 15 + 115 <= 230


@pytest.mark.parametrize(("rpm", "tpm", "which"), [(2, None, "requests"), (None, 230, "tokens")])
def test_limits_use_an_exact_sliding_window(rpm, tpm, which):
    clock = Clock()
    gate = QuotaAdmission(LocalQuota(), PriceBook(), default_max_tokens=4096, clock=clock)
    config = TenantConfig({}, limits_rpm=rpm, limits_tpm=tpm)
    assert _admit(gate, 1, config).error is None
    clock.now += 20
    assert _admit(gate, 2, config).error is None
    refused = _admit(gate, 3, config).error
    assert isinstance(refused, RateLimitedError) and refused.retry_after == 40
    assert which in refused.message
    clock.now += 40.001
    assert _admit(gate, 4, config).error is None
