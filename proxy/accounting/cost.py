"""What a request cost: the route's prices, else a built-in table of common models.

Prices are USD per million tokens. The table is looked up by `upstream_model`
(longest known prefix, so dated snapshots like `gpt-4o-2024-08-06` match), is
dated, and is always overridden by prices in the tenant's config. Cached input
tokens use `cached_input_cost_per_mtok`, defaulting to the input price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from proxy.route import Route

PRICES_AS_OF = "2025-08"
_K = TypeVar("_K")


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


_UNSET = Price(-1.0, -1.0)


class PriceBook:
    """Resolves prices once per route, or per model name for a route that serves
    any model (`default` without prices or `upstream_model`); memos are bounded."""

    def __init__(self, table: dict[str, Price] | None = None, *, memo_size: int = 4096) -> None:
        self._table = BUILTIN_PRICES if table is None else table
        self._by_length = sorted(self._table, key=len, reverse=True)
        self._by_route: dict[Route, Price | None] = {}
        self._by_name: dict[str, Price | None] = {}
        self._memo_size = memo_size

    def price(self, route: Route, model: str | None) -> Price | None:
        found = self._by_route.get(route, _UNSET)
        if found is not _UNSET:
            return found
        if route.input_cost_per_mtok is not None or route.output_cost_per_mtok is not None:
            found = Price(
                route.input_cost_per_mtok or 0.0,
                route.output_cost_per_mtok or 0.0,
                route.cached_input_cost_per_mtok,
            )
        elif route.upstream_model is not None or route.model_name is not None:
            found = self._lookup(route.upstream_model or route.model_name or "")
        else:
            return self._for_name(model)
        _remember(self._by_route, route, found, self._memo_size)
        return found

    def _for_name(self, name: str | None) -> Price | None:
        if name is None:
            return None
        found = self._by_name.get(name, _UNSET)
        if found is _UNSET:
            found = self._lookup(name)
            _remember(self._by_name, name, found, self._memo_size)
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


def _remember(memo: dict[_K, Price | None], key: _K, value: Price | None, size: int) -> None:
    if len(memo) >= size:
        memo.clear()
    memo[key] = value
