"""Budgets and limits kept in this process alone: without Redis, or for a Redis outage
with BUDGET_FAIL_MODE=open.

The same rules as the Redis script (proxy.accounting.quota_script), decided at once:
spent + reserved + estimate <= budget, `monthly_usd: 0` blocks; exact sliding 60 s
windows for RPM and TPM. Each process counts only what it served itself, so with N
processes a tenant may get up to N times its budget and limits.
"""

from __future__ import annotations

from collections import deque

from proxy.accounting.quota import (
    WINDOW_S,
    Reservation,
    budget_exceeded,
    rate_limited,
)


class _Window:
    """One tenant's requests of the last 60 s: [time, tokens] in arrival order."""

    __slots__ = ("entries", "by_member", "tokens")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, str]] = deque()
        self.by_member: dict[str, int] = {}
        self.tokens = 0

    def prune(self, now: float) -> None:
        entries = self.entries
        while entries and entries[0][0] <= now - WINDOW_S:
            _, member = entries.popleft()
            self.tokens -= self.by_member.pop(member, 0)

    def rpm_wait(self, now: float, limit: int) -> float | None:
        used = len(self.entries)
        if used + 1 <= limit:
            return None
        if limit == 0:
            return WINDOW_S
        return self.entries[used - limit][0] + WINDOW_S - now

    def tpm_wait(self, now: float, limit: int, tokens: int) -> float | None:
        used = self.tokens
        if used + tokens <= limit:
            return None
        if tokens > limit:
            return WINDOW_S
        for at, member in self.entries:
            used -= self.by_member.get(member, 0)
            if used + tokens <= limit:
                return at + WINDOW_S - now
        return WINDOW_S


class LocalQuota:
    """Per-process budgets and limits (see the module docstring)."""

    def __init__(self) -> None:
        self._spent: dict[tuple[str, str], int] = {}
        self._reserved: dict[tuple[str, str], int] = {}
        self._windows: dict[str, _Window] = {}

    def reserve(self, reservation: Reservation) -> None:
        r = reservation
        month = (r.tenant, r.month)
        if r.budget_micro is not None:
            used = self._spent.get(month, 0) + self._reserved.get(month, 0)
            if r.budget_micro == 0 or used + r.estimate_micro > r.budget_micro:
                r.refuse(budget_exceeded(r.at))
                return
        window = None
        if r.rpm is not None or r.tpm is not None:
            window = self._windows.get(r.tenant)
            if window is None:
                window = self._windows[r.tenant] = _Window()
            window.prune(r.at)
            wait = None if r.rpm is None else window.rpm_wait(r.at, r.rpm)
            if wait is not None:
                r.refuse(rate_limited("requests-per-minute", wait))
                return
            wait = None if r.tpm is None else window.tpm_wait(r.at, r.tpm, r.tpm_tokens)
            if wait is not None:
                r.refuse(rate_limited("tokens-per-minute", wait))
                return
            window.entries.append((r.at, r.member))
            window.by_member[r.member] = r.tpm_tokens
            window.tokens += r.tpm_tokens
        if r.estimate_micro:
            self._reserved[month] = self._reserved.get(month, 0) + r.estimate_micro
        r.grant(Reservation.LOCAL)

    def settle(self, reservation: Reservation, cost_micro: int, tokens: int) -> None:
        r = reservation
        month = (r.tenant, r.month)
        if r.estimate_micro:
            left = self._reserved.get(month, 0) - r.estimate_micro
            if left > 0:
                self._reserved[month] = left
            else:
                self._reserved.pop(month, None)
        if cost_micro:
            self._spent[month] = self._spent.get(month, 0) + cost_micro
        window = self._windows.get(r.tenant)
        if window is not None and r.member in window.by_member:
            window.tokens += tokens - window.by_member[r.member]
            window.by_member[r.member] = tokens

    def spent_micro(self, tenant: str, month: str) -> int:
        return self._spent.get((tenant, month), 0)

    def reserved_micro(self, tenant: str, month: str) -> int:
        return self._reserved.get((tenant, month), 0)
