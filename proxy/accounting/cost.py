"""What a request cost: the route's prices, else a built-in table of common models.

Prices are USD per million tokens. The table is looked up by `upstream_model`
(longest known prefix, so dated snapshots like `gpt-4o-2024-08-06` match), is
dated, and is always overridden by prices in the tenant's config. Cached input
tokens use `cached_input_cost_per_mtok`, defaulting to the input price.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.tenancy.config import Route

PRICES_AS_OF = "2025-08"


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    output: float
    cached_input: float | None = None


BUILTIN_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-5": Price(1.25, 10.0, 0.125),
    "gpt-5-mini": Price(0.25, 2.0, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-4.1": Price(2.0, 8.0, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4o": Price(2.50, 10.0, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4-turbo": Price(10.0, 30.0),
    "gpt-4": Price(30.0, 60.0),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o1": Price(15.0, 60.0, 7.50),
    "o1-mini": Price(1.10, 4.40, 0.55),
    "o3": Price(2.0, 8.0, 0.50),
    "o3-mini": Price(1.10, 4.40, 0.55),
    "o4-mini": Price(1.10, 4.40, 0.275),
    "text-embedding-3-small": Price(0.02, 0.0),
    "text-embedding-3-large": Price(0.13, 0.0),
    "text-embedding-ada-002": Price(0.10, 0.0),
    # Anthropic
    "claude-opus-4": Price(15.0, 75.0, 1.50),
    "claude-sonnet-4": Price(3.0, 15.0, 0.30),
    "claude-3-7-sonnet": Price(3.0, 15.0, 0.30),
    "claude-3-5-sonnet": Price(3.0, 15.0, 0.30),
    "claude-3-5-haiku": Price(0.80, 4.0, 0.08),
    "claude-3-opus": Price(15.0, 75.0, 1.50),
    "claude-3-sonnet": Price(3.0, 15.0, 0.30),
    "claude-3-haiku": Price(0.25, 1.25, 0.03),
}


class PriceBook:
    """Resolves a route's price once per distinct model name (bounded memo)."""

    def __init__(self, table: dict[str, Price] | None = None, *, memo_size: int = 4096) -> None:
        self._table = BUILTIN_PRICES if table is None else table
        self._by_length = sorted(self._table, key=len, reverse=True)
        self._memo: dict[str, Price | None] = {}
        self._memo_size = memo_size

    def price(self, route: Route, model: str | None) -> Price | None:
        if route.input_cost_per_mtok is not None or route.output_cost_per_mtok is not None:
            return Price(
                route.input_cost_per_mtok or 0.0,
                route.output_cost_per_mtok or 0.0,
                route.cached_input_cost_per_mtok,
            )
        name = route.upstream_model or model
        if name is None:
            return None
        if name in self._memo:
            return self._memo[name]
        found = self._lookup(name)
        if len(self._memo) >= self._memo_size:
            self._memo.clear()
        self._memo[name] = found
        return found

    def _lookup(self, name: str) -> Price | None:
        exact = self._table.get(name)
        if exact is not None:
            return exact
        for known in self._by_length:
            if name.startswith(known + "-") or name.startswith(known + "@"):
                return self._table[known]
        return None

    def cost(
        self,
        price: Price | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cached_tokens: int | None,
    ) -> float | None:
        if price is None or (input_tokens is None and output_tokens is None):
            return None
        cached = min(cached_tokens or 0, input_tokens or 0)
        cached_rate = price.cached_input if price.cached_input is not None else price.input
        micro = (
            ((input_tokens or 0) - cached) * price.input
            + cached * cached_rate
            + (output_tokens or 0) * price.output
        )
        return round(micro / 1_000_000, 10)
