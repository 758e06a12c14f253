"""Route: a leaf value, compared by identity so it can key per-route memos."""

from __future__ import annotations

import dataclasses

import pytest

from proxy.route import DEFAULT_TIMEOUT_S, Route


def test_defaults_and_identity():
    a = Route(provider="openai", api_base="http://x")
    b = Route(provider="openai", api_base="http://x")
    assert (a.timeout_s, a.mock_latency_ms, a.model_name, a.api_key) == (
        DEFAULT_TIMEOUT_S,
        0.0,
        None,
        None,
    )
    assert a != b and len({a: 1, b: 2}) == 2  # equal fields, distinct routes
    assert a == a


def test_routes_are_immutable_and_never_show_their_key():
    route = Route(provider="openai", api_base="http://x", api_key="sk-secret-0001")
    with pytest.raises(dataclasses.FrozenInstanceError):
        route.api_key = "other"  # type: ignore[misc]
    assert "sk-secret" not in repr(route)
