"""Body inspection: what the proxy reads from a request body, and what it refuses."""

from __future__ import annotations

import pytest

from proxy.body import inspect_body
from proxy.errors import InvalidJSONError, InvalidRequestError


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
