"""The admission stage's own rules: a tenant without budget or limits is never held, a
request is charged to the UTC month it arrived in (also across a month's end, where
the stage's remembered month must roll over), and the estimate follows the body."""

from __future__ import annotations

from datetime import UTC, datetime

from proxy.accounting.cost import PriceBook
from proxy.accounting.quota import (
    QuotaAdmission,
    Reservation,
    estimate_tokens,
    month_span,
    seconds_to_month_end,
)
from proxy.body import inspect_body
from proxy.route import Route
from proxy.tenancy.config import TenantConfig
from proxy.usage_record import UsageRecord

END_OF_NOVEMBER = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC).timestamp()
ROUTE = Route(provider="openai", api_base="http://x", model_name="m", input_cost_per_mtok=1.0)
BODY = inspect_body(b'{"model":"m","max_tokens":10}', "application/json")


class Held:
    """A backend that only keeps what it is asked to reserve."""

    def __init__(self) -> None:
        self.reserved: list[Reservation] = []

    def reserve(self, reservation: Reservation) -> None:
        self.reserved.append(reservation)

    def settle(self, reservation: Reservation, cost_micro: int, tokens: int) -> None:
        pass


def record(n: int) -> UsageRecord:
    return UsageRecord(f"ev{n}", f"r{n}", 0.0, "POST", "/v1/chat/completions", tenant="t")


def test_each_request_is_charged_to_the_month_it_arrived_in():
    clock = [END_OF_NOVEMBER]
    held = Held()
    gate = QuotaAdmission(held, PriceBook(), default_max_tokens=100, clock=lambda: clock[0])
    config = TenantConfig({}, budget_monthly_usd=1.0)
    gate.admit(record(1), ROUTE, BODY, config)
    clock[0] += 1  # midnight, December 1st (UTC)
    gate.admit(record(2), ROUTE, BODY, config)
    clock[0] -= 0.5  # a request stamped just before it still belongs to November
    gate.admit(record(3), ROUTE, BODY, config)
    assert [r.month for r in held.reserved] == ["2026-11", "2026-12", "2026-11"]


def test_a_tenant_without_budget_or_limits_is_not_held():
    held = Held()
    gate = QuotaAdmission(held, PriceBook(), default_max_tokens=100, clock=lambda: 0.0)
    assert gate.admit(record(1), ROUTE, BODY, TenantConfig({})) is None
    assert held.reserved == []


def test_month_span_and_the_seconds_left():
    month, starts, ends = month_span(END_OF_NOVEMBER)
    assert month == "2026-11"
    assert starts == datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert ends == END_OF_NOVEMBER + 1
    assert month_span(datetime(2026, 12, 31, 12, tzinfo=UTC).timestamp())[0] == "2026-12"
    assert (
        month_span(datetime(2026, 12, 31, 12, tzinfo=UTC).timestamp())[2]
        == datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    )
    assert seconds_to_month_end(END_OF_NOVEMBER) == 1


def test_the_estimate_is_the_body_over_four_plus_the_clients_own_maximum():
    assert estimate_tokens(BODY) == (8, 10)  # 30 bytes -> 8 tokens
    bare = inspect_body(b'{"model":"m","max_tokens":true}', "application/json")
    assert estimate_tokens(bare) == (8, None)  # a boolean is not a maximum
