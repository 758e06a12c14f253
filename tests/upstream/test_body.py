"""Body inspection and the only two edits the proxy makes."""

from __future__ import annotations

import orjson
import pytest

from proxy.errors import InvalidJSONError, InvalidRequestError
from proxy.route import Route
from proxy.upstream.body import inspect_body, upstream_body

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


def test_body_without_content_type_that_looks_like_json_is_parsed():
    assert inspect_body(b'{"model":"x"}', "application/x-www-form-urlencoded").model == "x"
    assert inspect_body(b"\x00binary", "application/octet-stream").model is None


def test_multipart_model_field():
    raw = b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--b--\r\n'
    assert inspect_body(raw, "multipart/form-data; boundary=b").model == "whisper-1"


@pytest.mark.parametrize(
    "raw", [b"{", b'{"a": NaN}', b'{"a": 1' + b"0" * 5000 + b"}", b'{"a": "\xff"}', b"[1]"]
)
def test_bad_json(raw):
    with pytest.raises(InvalidJSONError):
        inspect_body(raw, "application/json")


def test_model_must_be_a_string():
    with pytest.raises(InvalidRequestError) as info:
        inspect_body(b'{"model": ["a"]}', "application/json")
    assert info.value.param == "model"
