"""Showing secrets without revealing them.

`display_url` is how every URL reaches people (banner, logs, `Settings`' repr,
CLI output): credentials in it are used, never printed.
"""

from __future__ import annotations


def mask_key(key: str) -> str:
    """`sk-...abcd`: first 3 characters and last 4; keys under 12 characters show `...`."""
    if len(key) < 12:
        return "..."
    return f"{key[:3]}...{key[-4:]}"


def redact(body: bytes, secret: str | None) -> bytes:
    """`body` with every occurrence of `secret` masked."""
    if not secret:
        return body
    raw = secret.encode()
    if raw not in body:
        return body
    return body.replace(raw, mask_key(secret).encode())


def display_url(url: str) -> str:
    """`url` for people: `user:pass@` credentials become `***@`, the rest is unchanged.

    Works on any `scheme://authority...` (http, redis, rediss, unix); the last `@`
    of the authority ends the credentials, as URL parsers read it.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = len(rest)
    for delimiter in "/?#":
        found = rest.find(delimiter)
        if 0 <= found < end:
            end = found
    userinfo, at, host = rest[:end].rpartition("@")
    if not at:
        return url
    return f"{scheme}://***@{host}{rest[end:]}"
