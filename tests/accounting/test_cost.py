"""Prices: the route's own, else the built-in table by upstream model."""

from __future__ import annotations

from proxy.accounting.cost import PriceBook
from proxy.route import Route


def test_route_prices_win_and_cached_tokens_use_their_price():
    book = PriceBook()
    route = Route(
        provider="openai",
        api_base="http://x",
        model_name="gpt-4o",
        input_cost_per_mtok=2.0,
        output_cost_per_mtok=8.0,
        cached_input_cost_per_mtok=0.5,
    )
    price = book.price(route, "gpt-4o")
    assert (
        book.cost(price, 1_000_000, 500_000, 400_000)
        == 600_000 * 2.0 / 1e6 + 400_000 * 0.5 / 1e6 + 4.0
    )


def test_table_lookup_by_upstream_model_with_dated_suffixes():
    book = PriceBook()
    dated = Route(
        provider="openai",
        api_base="http://x",
        model_name="fast",
        upstream_model="gpt-4o-mini-2024-07-18",
    )
    price = book.price(dated, "fast")
    assert price is not None and (price.input, price.output) == (0.15, 0.60)
    claude = Route(
        provider="anthropic", api_base="http://x", model_name="claude-3-5-sonnet-20241022"
    )
    assert book.price(claude, "claude-3-5-sonnet-20241022").input == 3.0


def test_default_route_prices_by_the_requested_model_and_unknown_is_none():
    book = PriceBook()
    default = Route(provider="openai", api_base="http://x")
    assert book.price(default, "gpt-4.1-nano").output == 0.40
    assert book.price(default, "my-finetune") is None
    assert book.cost(None, 10, 10, None) is None
    assert book.cost(book.price(default, "gpt-4o"), None, None, None) is None
