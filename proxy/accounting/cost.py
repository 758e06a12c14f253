"""What a request cost: the route's prices, else the built-in table of common models.

Prices are USD per million tokens, so tokens x price is micro-USD. The built-in
table is the data file `prices.json` next to this module (OpenAI, Anthropic, Google
Gemini, Mistral; dated `as_of`), looked up by `upstream_model`: the longest listed
family the id starts with, so dated snapshots like `gpt-4o-2024-08-06` or
`mistral-large-2411` match. Prices in the tenant's config always win. Cached input
tokens use `cached_input_cost_per_mtok`, defaulting to the input price.

Amounts are integer micro-USD, rounded up (SPEC 8.1): `cost_micro` is what budgets
reserve and settle; the record's `cost_usd` is the same amount in USD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from typing import TypeVar

import orjson

from proxy.route import Route

_K = TypeVar("_K")


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    output: float
    cached_input: float | None = None


def load_prices(data: bytes | None = None) -> dict[str, Price]:
    """The built-in table (`prices.json`), or the table in `data`."""
    if data is None:
        data = resources.files("proxy.accounting").joinpath("prices.json").read_bytes()
    doc = orjson.loads(data)
    return {
        name: Price(float(p["input"]), float(p["output"]), p.get("cached_input"))
        for name, p in doc["models"].items()
    }


def micro_usd(amount: float) -> int:
    """A micro-USD amount as a whole number, rounded up; float noise below a
    millionth of a micro-USD does not count (600 x 0.15 is 90, not 91).

    That is `math.ceil(round(amount, 6))`, whose decimal rounding is a float's
    slowest operation; it is needed only when the fraction is within a millionth
    of zero: `round` moves `amount` by at most that much, so a whole amount stays
    whole and a larger fraction still rounds up."""
    whole = math.floor(amount)
    part = amount - whole  # exact for a float
    if part == 0:
        return whole
    if part > 1e-6:
        return whole + 1
    return math.ceil(round(amount, 6))


_UNSET = Price(-1.0, -1.0)


class PriceBook:
    """Resolves prices once per route, or per model name for a route that serves
    any model (`default` without prices or `upstream_model`); memos are bounded."""

    def __init__(self, table: dict[str, Price] | None = None, *, memo_size: int = 4096) -> None:
        self._table = load_prices() if table is None else table
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

    def cost_micro(
        self,
        price: Price | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cached_tokens: int | None,
    ) -> int | None:
        """Integer micro-USD, rounded up; None when unpriced or no usage is known."""
        if price is None or (input_tokens is None and output_tokens is None):
            return None
        prompt = input_tokens or 0
        if not cached_tokens:  # the same sum as below with cached = 0, without its terms
            return micro_usd(prompt * price.input + (output_tokens or 0) * price.output)
        cached = min(cached_tokens, prompt)
        cached_rate = price.cached_input if price.cached_input is not None else price.input
        return micro_usd(
            (prompt - cached) * price.input
            + cached * cached_rate
            + (output_tokens or 0) * price.output
        )

    def cost(
        self,
        price: Price | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cached_tokens: int | None,
    ) -> float | None:
        """The same amount in USD, as the usage record carries it."""
        micro = self.cost_micro(price, input_tokens, output_tokens, cached_tokens)
        return None if micro is None else micro / 1_000_000


def _remember(memo: dict[_K, Price | None], key: _K, value: Price | None, size: int) -> None:
    if len(memo) >= size:
        memo.clear()
    memo[key] = value
