"""Opaque page cursors: the last key of a page, base64url, checked when it comes back."""

from __future__ import annotations

import base64
import binascii
import re

from proxy.errors import InvalidRequestError

_PREFIX = "c1."


def encode_cursor(last_key: str) -> str:
    return _PREFIX + base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, pattern: re.Pattern[str]) -> str | None:
    """The key a cursor names (None: the first page). Raises InvalidRequestError."""
    if cursor is None:
        return None
    if cursor.startswith(_PREFIX):
        body = cursor[len(_PREFIX) :]
        try:
            key = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        except (binascii.Error, ValueError):
            key = ""
        if pattern.fullmatch(key):
            return key
    raise InvalidRequestError("cursor is not one this API returned", param="cursor")
