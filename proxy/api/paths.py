"""Request paths: validated before anything else looks at them.

Percent-encoding is decoded before validation; `.`/`..` segments, encoded
slashes and backslashes, and control characters are refused with 400. The
common case (a plain ASCII path) costs three substring tests.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from proxy.errors import InvalidPathError

_PATH_SAFE = "/!$&'()*+,;=:@-._~"


def split_path(raw_path: str) -> tuple[str, str]:
    """(path to forward, raw query) from the request target as the client sent it."""
    path, _, query = raw_path.partition("?")
    if "%" in path or "\\" in path or "/." in path:
        path = _canonical(path)
    return path, query


def _canonical(path: str) -> str:
    lowered = path.lower()
    if "\\" in path or "%2f" in lowered or "%5c" in lowered:
        raise InvalidPathError("Encoded slashes and backslashes are not allowed in the path.")
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise InvalidPathError("The path is not valid UTF-8 once decoded.") from None
    if any(segment in (".", "..") for segment in decoded.split("/")):
        raise InvalidPathError("'.' and '..' segments are not allowed in the path.")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in decoded):
        raise InvalidPathError("Control characters are not allowed in the path.")
    return quote(decoded, safe=_PATH_SAFE)
