"""Exponential backoff with full jitter: how long to wait before the next try.

Retry `n` (0 for the first) waits a uniform random time in [0, min(cap, base * 2**n)):
"full jitter", as Marc Brooker's "Exponential Backoff And Jitter" (AWS Architecture
Blog, 2015) names it. Spreading waits over the whole interval keeps clients that
failed together (every worker, when a receiver or a provider went away) from all
trying again together. Used by the telemetry sender; upstream retries use it too
(SPEC section 12: from `backoff_ms`, capped at 2 s).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# 2.0 ** 1024 overflows a float; the ceiling reaches any cap long before.
_MAX_EXPONENT = 1023


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float  # seconds: the ceiling of the first wait
    cap: float  # seconds: no wait is longer
    jitter: Callable[[], float] = random.random  # uniform in [0, 1); tests pass their own

    def __post_init__(self) -> None:
        if not (self.base > 0 and self.cap > 0):
            raise ValueError(f"backoff base and cap must be positive: {self.base}, {self.cap}")

    def ceiling(self, attempt: int) -> float:
        """The longest wait before retry `attempt` (0 for the first): base doubled
        `attempt` times, at most `cap`, however many tries have failed."""
        return min(self.cap, self.base * 2.0 ** min(max(attempt, 0), _MAX_EXPONENT))

    def delay(self, attempt: int) -> float:
        """A wait drawn uniformly from [0, ceiling(attempt))."""
        return self.ceiling(attempt) * self.jitter()
