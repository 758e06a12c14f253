"""The only two edits the proxy makes to a body it forwards."""

from __future__ import annotations

import orjson

from proxy.body import inspect_body
from proxy.route import Route
from proxy.upstream.body import upstream_body

ROUTE = Route(provider="openai", api_base="http://x", model_name="m")


def test_plain_json_is_forwarded_as_the_same_object():
    raw = b'{"model":"m","stream":true}'
    body = inspect_body(raw, "application/json")
    assert (body.model, body.stream, body.asks_usage) == ("m", True, False)
    assert upstream_body(body, ROUTE, add_usage=False) is raw


def test_usage_option_is_spliced_in_front():
    raw = b'  {"model":"m","stream":true}'
    out = upstream_body(inspect_body(raw, "application/json"), ROUTE, add_usage=True)
    assert out == b'  {"stream_options":{"include_usage":true},"model":"m","stream":true}'


def test_rename_reencodes_and_keeps_everything_else():
    route = Route(provider="openai", api_base="http://x", model_name="m", upstream_model="real")
    raw = b'{"model":"m","stream":true,"stream_options":{"x":1},"n":2}'
    out = orjson.loads(upstream_body(inspect_body(raw, "application/json"), route, add_usage=True))
    assert out == {
        "model": "real",
        "stream": True,
        "stream_options": {"x": 1, "include_usage": True},
        "n": 2,
    }
