"""Error answers are read bounded, and a key is never shown, whole or in part."""

from __future__ import annotations

import asyncio

from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol

from proxy.upstream.error_body import read_error_body

KEY = "sk-route-key-0001"


def _reader(*chunks: bytes, eof: bool = True) -> StreamReader:
    loop = asyncio.get_running_loop()
    reader = StreamReader(BaseProtocol(loop), 1 << 16, loop=loop)
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return reader


async def test_a_key_split_across_chunks_is_masked():
    body, whole = await read_error_body(_reader(b'{"error": "bad sk-rou', b'te-key-0001"}'), KEY)
    assert (body, whole) == (b'{"error": "bad sk-...0001"}', True)


async def test_a_short_key_shows_only_dots():
    body, _ = await read_error_body(_reader(b"key sk-short1 refused"), "sk-short1")
    assert body == b"key ... refused"


async def test_a_long_body_is_cut_at_the_limit_and_reported_unfinished():
    body, whole = await read_error_body(_reader(b"a" * 60, b"b" * 60, eof=False), KEY, limit=100)
    assert (body, whole) == (b"a" * 60 + b"b" * 40, False)


async def test_the_start_of_a_key_at_the_cut_is_dropped():
    """The rest of the key was never read, so it cannot be matched: its start goes."""
    reader = _reader(b"x" * 90 + KEY[:5].encode(), b"y" * 20 + KEY[:12].encode(), eof=False)
    body, whole = await read_error_body(reader, KEY, limit=100)
    assert not whole
    assert body == b"x" * 90 + KEY[:5].encode() + b"y" * 5
    body, _ = await read_error_body(
        _reader(b"x" * 95 + KEY[:12].encode(), eof=False), KEY, limit=100
    )
    assert body == b"x" * 95


async def test_without_a_key_the_body_is_only_bounded():
    body, whole = await read_error_body(_reader(b"plain error"), None)
    assert (body, whole) == (b"plain error", True)
