"""Route: where one model's requests go and how they are priced. A leaf value.

`tenancy.config` parses routes out of tenant documents; everything on the request
path (body edits, headers, pricing, the exchange) reads them. This module imports
nothing of the proxy, so any layer may hold a Route.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_TIMEOUT_S = 600.0


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

    @property
    def is_mock(self) -> bool:
        """For tests and tools; the request path asks the provider table instead."""
        return self.provider == "mock"
