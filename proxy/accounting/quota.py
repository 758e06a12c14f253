"""Budgets and RPM/TPM limits as an admission stage: estimate, reserve, settle (SPEC 8.1).

`QuotaAdmission.admit` turns a request of a tenant with a budget or limits into a
`Reservation`: the tenant's key, the UTC month, the worst-case cost estimate in
micro-USD and the tokens it counts against TPM. A backend decides it (`RedisQuota`:
shared by every worker and replica; `LocalQuota`: this process only) and settlement
hands it back with the actual cost and tokens, exactly once, whatever happened. A
tenant with neither budget nor limits gets None at once: no Redis call, no await.

Estimate: prompt tokens = the request body's bytes / 4, rounded up; plus
`max_tokens` / `max_completion_tokens` / `max_output_tokens` when given, else
BUDGET_DEFAULT_MAX_TOKENS, at the route's prices. TPM counts the prompt estimate plus
the client's own max only. A route with no price reserves 0 USD (its tokens still
count against TPM): such requests are recorded but never charged to the budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Any, Protocol

from proxy.accounting.cost import PriceBook
from proxy.body import RequestBody
from proxy.errors import BudgetExceededError, ProxyError, RateLimitedError
from proxy.route import Route
from proxy.usage_record import UsageRecord

STATIC_TENANT = "static"  # the key of static mode's single tenant
WINDOW_S = 60.0
_MAX_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


class Quota(Protocol):
    """A tenant's budget and limits, as `TenantConfig` holds them."""

    @property
    def budget_monthly_usd(self) -> float | None: ...
    @property
    def limits_rpm(self) -> int | None: ...
    @property
    def limits_tpm(self) -> int | None: ...


def month_of(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m")


def month_span(now: float) -> tuple[str, float, float]:
    """The UTC month `now` falls in: ("YYYY-MM", its first second, the next month's)."""
    today = datetime.fromtimestamp(now, UTC)
    starts = datetime(today.year, today.month, 1, tzinfo=UTC)
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    ends = datetime(year, month, 1, tzinfo=UTC)
    return starts.strftime("%Y-%m"), starts.timestamp(), ends.timestamp()


def seconds_to_month_end(now: float) -> int:
    """Whole seconds, rounded up, until the next UTC month starts (at least 1)."""
    today = datetime.fromtimestamp(now, UTC)
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return max(1, math.ceil(datetime(year, month, 1, tzinfo=UTC).timestamp() - now))


def budget_exceeded(now: float) -> BudgetExceededError:
    return BudgetExceededError(
        "The tenant's monthly budget does not cover this request.",
        retry_after=seconds_to_month_end(now),
    )


def rate_limited(which: str, wait_s: float) -> RateLimitedError:
    return RateLimitedError(
        f"The tenant's {which} limit is reached.", retry_after=max(1, math.ceil(wait_s))
    )


def estimate_tokens(body: RequestBody) -> tuple[int, int | None]:
    """(prompt estimate, the client's own max output tokens or None)."""
    prompt = -(-len(body.raw) // 4)
    doc = body.doc
    if doc is not None:
        for name in _MAX_FIELDS:
            if name in doc:  # most requests name none: no lookup, no value to check
                value = doc[name]
                if type(value) is int and value >= 0:  # an int, not a bool
                    return prompt, value
    return prompt, None


class Reservation:
    """One request's claim on its tenant's budget and limits, from admission to
    settlement. Awaiting it waits for the decision and raises the refusal, if any.

    `state`: PENDING (a backend is deciding), GRANTED (held in Redis), LOCAL (held in
    this process: no Redis, or Redis failed and BUDGET_FAIL_MODE=open), REFUSED.
    """

    PENDING, GRANTED, LOCAL, REFUSED = "pending", "granted", "local", "refused"

    __slots__ = (
        "tenant",
        "month",
        "at",
        "member",
        "budget_micro",
        "estimate_micro",
        "rpm",
        "tpm",
        "tpm_tokens",
        "state",
        "error",
        "decided",
    )

    def __init__(
        self,
        tenant: str,
        at: float,
        member: str,
        budget_micro: int | None,
        estimate_micro: int,
        rpm: int | None,
        tpm: int | None,
        tpm_tokens: int,
        month: str | None = None,  # month_of(at), when the caller knows it already
    ) -> None:
        self.tenant = tenant
        self.month = month or month_of(at)
        self.at = at  # wall-clock seconds: the sliding window's time and the month
        self.member = member  # unique per request: its entry in the RPM/TPM windows
        self.budget_micro = budget_micro
        self.estimate_micro = estimate_micro
        self.rpm = rpm
        self.tpm = tpm
        self.tpm_tokens = tpm_tokens
        self.state = Reservation.PENDING
        self.error: ProxyError | None = None
        self.decided: Any = None  # an asyncio.Future while a backend is deciding

    def grant(self, state: str) -> None:
        self.state = state
        self._wake()

    def refuse(self, error: ProxyError) -> None:
        self.state, self.error = Reservation.REFUSED, error
        self._wake()

    def _wake(self) -> None:
        if self.decided is not None and not self.decided.done():
            self.decided.set_result(None)

    def __await__(self) -> Generator[Any, None, None]:
        if self.state == Reservation.PENDING:
            yield from self.decided.__await__()
        if self.error is not None:
            raise self.error


class QuotaBackend(Protocol):
    def reserve(self, reservation: Reservation) -> None:
        """Decide now (grant or refuse), or set `decided` and decide later."""

    def settle(self, reservation: Reservation, cost_micro: int, tokens: int) -> None:
        """Release the reservation and count the actual cost and tokens; never blocks."""


class QuotaAdmission:
    """The admission stage for budgets and limits (see the module docstring)."""

    def __init__(
        self,
        backend: QuotaBackend,
        prices: PriceBook,
        *,
        default_max_tokens: int,
        clock: Callable[[], float],
    ) -> None:
        self._backend = backend
        self._prices = prices
        self._default_max = default_max_tokens
        self._clock = clock
        self._month = ("", 0.0, 0.0)  # the month of the last request, and its span
        self._budgets: dict[float, int] = {}  # monthly USD -> micro-USD, at most MAX_BUDGETS

    MAX_BUDGETS = 4096

    def _budget_micro(self, budget: float) -> int:
        if len(self._budgets) >= self.MAX_BUDGETS:
            self._budgets.clear()
        micro = self._budgets[budget] = math.floor(round(budget * 1e6, 6))
        return micro

    def admit(
        self, record: UsageRecord, route: Route, body: RequestBody, quota: Quota
    ) -> Reservation | None:
        budget, rpm, tpm = quota.budget_monthly_usd, quota.limits_rpm, quota.limits_tpm
        if budget is None and rpm is None and tpm is None:
            return None
        prompt, given = estimate_tokens(body)
        estimate = 0
        budget_micro = None
        if budget is not None:
            budget_micro = self._budgets.get(budget)
            if budget_micro is None:
                budget_micro = self._budget_micro(budget)
            prices = self._prices
            estimate = (
                prices.cost_micro(
                    prices.price(route, record.model),
                    prompt,
                    self._default_max if given is None else given,
                    None,
                )
                or 0
            )
        at = self._clock()
        month, starts, ends = self._month
        if not starts <= at < ends:
            self._month = month, starts, ends = month_span(at)
        reservation = Reservation(
            record.tenant or STATIC_TENANT,
            at,
            record.event_id,
            budget_micro,
            estimate,
            rpm,
            tpm,
            prompt + (given or 0),
            month,
        )
        self._backend.reserve(reservation)
        return reservation
