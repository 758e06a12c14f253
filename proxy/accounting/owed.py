"""What finished requests owe Redis, added up per tenant and month until sent.

Settlement never waits on Redis: a finished request adds its estimate to release, its
actual cost and its TPM correction to its tenant's `Owed`, and the quota's loop sends
the sum with the tenant's next script call. Amounts add up, so memory stays per
tenant, not per request; TPM corrections are kept up to MAX_CORRECTIONS per tenant
while Redis is away.
"""

from __future__ import annotations

from typing import Any

MAX_CORRECTIONS = 10_000  # TPM corrections kept per tenant while Redis is away


class Owed:
    """What one tenant's finished requests of one month owe Redis."""

    __slots__ = ("release", "cost", "corrections", "count")

    def __init__(self) -> None:
        self.release = 0
        self.cost = 0
        # flat, per correction: its entry's score (ms), member, tokens reserved, actual
        self.corrections: list[Any] = []
        self.count = 0

    def owe(self, release: int, cost: int, correction: tuple[int, str, int, int] | None) -> None:
        """Count one finished request: micro-USD to release and to spend, its TPM fix."""
        self.release += release
        self.cost += cost
        self.count += 1
        if correction is not None and len(self.corrections) < 4 * MAX_CORRECTIONS:
            self.corrections += correction

    def add(self, other: Owed) -> None:
        self.release += other.release
        self.cost += other.cost
        self.corrections += other.corrections[: 4 * MAX_CORRECTIONS - len(self.corrections)]
        self.count += other.count
