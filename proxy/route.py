"""Route: where one model's requests go and how they are priced. A leaf value.

`tenancy.config` parses routes out of tenant documents; everything on the request
path (body edits, headers, pricing, the exchange) reads them. This module imports
nothing of the proxy, so any layer may hold a Route.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_MAX_TOKENS = 4096  # what a translated request asks Anthropic for when the client named none
DEFAULT_ROUTE_NAME = "(default)"
DEFAULT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A route's `retry` block (SPEC 12): `attempts` is the total number of tries."""

    attempts: int = 3
    on_status: frozenset[int] = DEFAULT_RETRY_STATUSES
    backoff_ms: float = 100.0
    max_wait_s: float = 5.0


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """A route's `breaker` block: this many consecutive failures open it for `cooldown_s`."""

    failures: int = 5
    cooldown_s: float = 30.0


@dataclass(frozen=True, slots=True)
class MockFaults:
    """Scripted faults of a `mock` route, for demos and tests without a network.

    `fail_status` answers every `fail_every_n`-th request (1: all) with that status;
    `stall_ms` waits before answering, bounded by the route's `timeout_s` (a longer
    stall is a timeout); `cut_after_chunks` ends a stream after that many events, broken.
    """

    fail_status: int | None = None
    fail_every_n: int = 1
    stall_ms: float = 0.0
    cut_after_chunks: int | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """Where one model's requests go and how they are priced.

    Compared and hashed by identity: routes key per-route memos on the hot path.
    `provider` names an entry of `proxy.providers.PROVIDERS` (checked when parsed).
    """

    provider: str
    api_base: str  # normalised: no trailing "/" and no trailing "/v1"
    model_name: str | None = None  # None for the `default` route
    api_key: str | None = field(default=None, repr=False)
    upstream_model: str | None = None
    input_cost_per_mtok: float | None = None
    output_cost_per_mtok: float | None = None
    cached_input_cost_per_mtok: float | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    mock_latency_ms: float = 0.0
    mock_faults: MockFaults | None = None
    max_tokens_default: int = DEFAULT_MAX_TOKENS
    retry: RetryPolicy | None = None  # None: exactly one try
    breaker: BreakerPolicy | None = None  # None: no breaker
    fallbacks: tuple[Route, ...] = ()  # resolved from names; their own fallbacks are not followed

    @property
    def name(self) -> str:
        """The route's name in records, headers and breaker keys."""
        return self.model_name if self.model_name is not None else DEFAULT_ROUTE_NAME

    # Has a `retry`, `breaker` or `fallbacks`: the exchange's general path. Derived once
    # (a slot read on the hot path, not a property call).
    is_resilient: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        resilient = self.retry is not None or self.breaker is not None or bool(self.fallbacks)
        object.__setattr__(self, "is_resilient", resilient)

    @property
    def is_mock(self) -> bool:
        """For tests and tools; the request path asks the provider table instead."""
        return self.provider == "mock"
