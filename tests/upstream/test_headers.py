"""Response header filtering: what the client may see of the upstream's headers."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

from proxy.upstream.headers import copy_response_headers


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
