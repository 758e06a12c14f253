"""Secrets shown to people: masked keys, URLs without their credentials."""

from __future__ import annotations

import pytest

from proxy.redaction import display_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:canary@cfg.internal:8080/base", "http://***@cfg.internal:8080/base"),
        ("https://canary@hooks.example/x?y=1", "https://***@hooks.example/x?y=1"),
        ("redis://:canary@127.0.0.1:6379/0", "redis://***@127.0.0.1:6379/0"),
        ("rediss://default:can@ary@redis:6380", "rediss://***@redis:6380"),
        ("http://u:canary@h#frag", "http://***@h#frag"),
        ("http://cfg.internal/a@b?c=d@e", "http://cfg.internal/a@b?c=d@e"),
        ("http://cfg.internal", "http://cfg.internal"),
        ("not a url", "not a url"),
    ],
)
def test_display_url_hides_credentials_only(url, shown):
    assert display_url(url) == shown
