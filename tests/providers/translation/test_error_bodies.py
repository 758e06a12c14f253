"""Upstream error bodies in the client's format, both ways; the status stays the upstream's."""

from __future__ import annotations

import orjson
import pytest

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


def _openai(status: int, body: bytes) -> dict:
    return orjson.loads(anthropic_error_to_openai(status, body))["error"]


def _anthropic(status: int, body: bytes) -> dict:
    doc = orjson.loads(openai_error_to_anthropic(status, body))
    assert doc["type"] == "error"
    return doc["error"]


def test_an_anthropic_error_keeps_its_type_for_openai_clients_except_api_error():
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}}'
    assert _openai(429, body) == {
        "message": "Slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": None,
    }
    api = b'{"type":"error","error":{"type":"api_error","message":"Internal"}}'
    assert _openai(500, api)["type"] == "server_error"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (418, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "api_error"),
        (529, "overloaded_error"),
    ],
)
def test_the_anthropic_type_follows_the_status_whatever_the_openai_body_says(status, kind):
    body = b'{"error":{"message":"m","type":"server_error","code":"x"}}'
    assert _anthropic(status, body) == {"type": kind, "message": "m"}
    # An Anthropic body without a type gets the type of its status too.
    expected = "server_error" if kind == "api_error" else kind
    assert _openai(status, b'{"error":{"message":"m"}}')["type"] == expected


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'"text"',
        b'{"error": "flat string"}',
        b'{"error":{"message":""}}',
    ],
)
def test_a_body_without_an_error_message_names_the_status(body):
    assert _anthropic(502, body)["message"] == "upstream answered 502"
    assert _openai(418, body) == {
        "message": "upstream answered 418",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
