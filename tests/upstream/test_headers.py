"""Header hygiene: what the upstream gets of the client's headers, and the client of the
upstream's."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

from proxy.providers import PROVIDERS
from proxy.route import Route
from proxy.upstream.headers import copy_response_headers, upstream_headers


def _copy(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out: CIMultiDict[str] = CIMultiDict()
    copy_response_headers(CIMultiDictProxy(CIMultiDict(pairs)), out)
    return list(out.items())


def test_hop_by_hop_cookies_and_framing_are_dropped_and_the_request_id_renamed():
    assert _copy(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", "10"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "1"),
            ("Set-Cookie", "a=b"),
            ("X-Request-Id", "up-1"),
            ("x-ratelimit-limit-requests", "500"),
            ("Server-Timing", "upstream-internal;dur=1"),
            ("Retry-After", "3"),
        ]
    ) == [
        ("Content-Type", "application/json"),
        ("x-upstream-request-id", "up-1"),
        ("x-ratelimit-limit-requests", "500"),
        ("Retry-After", "3"),
    ]


def test_the_plan_depends_on_the_connection_value_not_just_names():
    names = [("Connection", "X-A"), ("X-A", "1"), ("X-B", "2")]
    assert _copy(names) == [("X-B", "2")]
    assert _copy([("Connection", "X-B"), ("X-A", "1"), ("X-B", "2")]) == [("X-A", "1")]


ROUTE = Route(provider="openai", api_base="http://x", api_key="sk-route-0001")


def test_the_key_goes_the_way_the_provider_table_says():
    client = {"Content-Type": "application/json", "Authorization": "Bearer client"}
    assert upstream_headers(client, ROUTE, PROVIDERS["openai"]) == {
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "Authorization": "Bearer sk-route-0001",
    }
    assert upstream_headers(client, ROUTE, PROVIDERS["anthropic"]) == {
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "x-api-key": "sk-route-0001",
        "anthropic-version": "2023-06-01",
    }


def test_a_default_header_the_client_sent_is_kept_in_any_case_and_not_doubled():
    client = {"Anthropic-Version": "2024-01-01", "X-Provider-API-Key": "sk-client"}
    keyless = Route(provider="anthropic", api_base="http://x")
    assert upstream_headers(client, keyless, PROVIDERS["anthropic"]) == {
        "Anthropic-Version": "2024-01-01",
        "Accept-Encoding": "identity",
        "x-api-key": "sk-client",
    }
    # Other providers forward it as any other header, and add nothing.
    assert "anthropic-version" not in upstream_headers(client, keyless, PROVIDERS["openai"])
    assert (
        upstream_headers(client, keyless, PROVIDERS["openai"])["Anthropic-Version"] == "2024-01-01"
    )
