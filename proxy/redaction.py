"""Showing secrets without revealing them."""

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
