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


def test_the_table_is_a_data_file_with_gemini_and_mistral_and_dated_ids_find_their_family():
    book = PriceBook()
    default = Route(provider="openai", api_base="http://x")
    assert book.price(default, "gemini-2.5-flash-preview-05-20").input == 0.30
    assert book.price(default, "gemini-2.5-flash-lite-001").input == 0.10  # longest family
    assert book.price(default, "mistral-large-2411").output == 6.0
    assert book.price(default, "claude-opus-4-5-20251101").input == 5.0
    assert book.price(default, "claude-opus-4-20250514").input == 15.0


def test_costs_are_whole_micro_usd_rounded_up():
    book = PriceBook()
    price = book.price(Route(provider="openai", api_base="http://x"), "gpt-4o-mini")
    assert book.cost_micro(price, 600, 0, None) == 90  # 600 x 0.15, float noise ignored
    assert book.cost_micro(price, 1, 1, None) == 1  # 0.75 micro-USD: rounded up
    assert book.cost(price, 1, 1, None) == 0.000001
