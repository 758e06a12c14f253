"""Upstream error bodies in the client's format, both ways; the status stays the upstream's."""

from __future__ import annotations

import orjson

from proxy.providers.translation.error_bodies import (
    anthropic_error_to_openai,
    openai_error_to_anthropic,
)


def test_an_error_page_that_is_not_json_is_not_repeated():
    page = b"<html><body>502 Bad Gateway from lb-17.internal</body></html>"
    assert orjson.loads(openai_error_to_anthropic(502, page)) == {
        "type": "error",
        "error": {"type": "api_error", "message": "upstream answered 502"},
    }
    assert orjson.loads(anthropic_error_to_openai(503, page))["error"] == {
        "message": "upstream answered 503",
        "type": "server_error",
        "param": None,
        "code": None,
    }
