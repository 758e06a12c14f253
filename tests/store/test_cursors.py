"""Page cursors: opaque, round-trip the last key, and refuse anything this API did not make."""

from __future__ import annotations

import re

import pytest

from proxy.errors import InvalidRequestError
from proxy.store import TENANT_ID
from proxy.store.cursors import decode_cursor, encode_cursor

TOKEN_ID = re.compile(r"^tok_[0-9a-f]{12,40}$")


@pytest.mark.parametrize("key", ["a", "acme", "A.b_c-d", "t" * 128, "a" * 2, "x-y.z"])
def test_a_cursor_gives_back_the_key_it_was_made_from(key):
    cursor = encode_cursor(key)
    assert key not in cursor  # opaque: the key is not readable in it
    assert re.fullmatch(r"c1\.[A-Za-z0-9_-]+", cursor)  # URL-safe, no padding
    assert decode_cursor(cursor, TENANT_ID) == key


def test_no_cursor_is_the_first_page():
    assert decode_cursor(None, TENANT_ID) is None


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "acme",  # a bare key is not a cursor
        "c1.",  # an empty key
        "c2." + encode_cursor("acme")[3:],  # another version
        "c1.!!!!",  # not base64url
        encode_cursor("bad id!"),  # decodes, but names no tenant id
        encode_cursor("acme") + "x",  # tampered
        "c1.gA",  # not UTF-8 once decoded
    ],
)
def test_a_tampered_or_foreign_cursor_is_an_invalid_request_naming_cursor(cursor):
    with pytest.raises(InvalidRequestError) as e:
        decode_cursor(cursor, TENANT_ID)
    assert (e.value.status, e.value.param) == (400, "cursor")
    assert e.value.message == "cursor is not one this API returned"


def test_a_cursor_is_checked_against_the_keys_of_its_own_listing():
    tenant_cursor = encode_cursor("acme")
    with pytest.raises(InvalidRequestError):
        decode_cursor(tenant_cursor, TOKEN_ID)
    token = "tok_0123456789ab0011223344556677"
    assert decode_cursor(encode_cursor(token), TOKEN_ID) == token
