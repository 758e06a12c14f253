"""An upstream's error answer, read bounded and with the key masked (SPEC 5).

An error answer (any status outside 2xx) is read whole, whatever its content type,
`text/event-stream` included, so a key split across read chunks is masked like any
other; at most `MAX_ERROR_BODY` bytes of it are kept, so an upstream cannot make the
proxy buffer without bound. Cut there, the body ends before any partial key.
"""

from __future__ import annotations

import aiohttp

from proxy.redaction import redact

MAX_ERROR_BODY = 256 * 1024  # provider errors are under 1 KiB; proxies' HTML pages a few


async def read_error_body(
    content: aiohttp.StreamReader, secret: str | None, limit: int = MAX_ERROR_BODY
) -> tuple[bytes, bool]:
    """(body, whole): up to `limit` bytes, `secret` masked; `whole`: read to its end."""
    parts: list[bytes] = []
    size = 0
    while size <= limit and (chunk := await content.readany()):
        parts.append(chunk)
        size += len(chunk)
    data = b"".join(parts)
    whole = content.at_eof()
    if not whole and secret:
        data = _drop_partial_secret(data, secret.encode())
    data = redact(data, secret)
    return data[:limit], whole


def _drop_partial_secret(data: bytes, secret: bytes) -> bytes:
    """`data` without a trailing start of `secret`: the rest of the key was not read."""
    for size in range(min(len(secret) - 1, len(data)), 0, -1):
        if data.endswith(secret[:size]):
            return data[:-size]
    return data
