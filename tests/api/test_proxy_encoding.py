"""Request `Content-Encoding`: gzip and deflate decoded, bounded, forwarded decoded."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import orjson
import pytest

from tests.conftest import openai_route

CHAT = "/v1/chat/completions"
BODY = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("label", "encoded"),
    [
        ("gzip", gzip.compress(BODY)),
        ("GZIP", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),
        ("deflate", _raw_deflate(BODY)),  # what some clients send as deflate
        ("identity", BODY),
    ],
    ids=["gzip", "gzip-upper-case", "deflate-zlib", "deflate-raw", "identity"],
)
async def test_encoded_bodies_are_forwarded_decoded_without_the_header(
    make_proxy, upstream, sink, label, encoded
):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    resp = await client.post(
        CHAT,
        data=encoded,
        headers={"Content-Type": "application/json", "Content-Encoding": label},
    )
    assert resp.status == 200
    (seen,) = upstream.seen
    assert seen.body == BODY
    assert "content-encoding" not in seen.headers
    (record,) = await sink.wait_for(1)
    assert record.model == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("label", "body"),
    [
        ("gzip", b'{"model": "gpt-4o-mini"}'),  # labelled gzip, is not
        ("deflate", b"not deflate at all"),
        ("gzip", gzip.compress(BODY)[:10] + b"\x00" * 20),  # a gzip header, then garbage
    ],
    ids=["plain-as-gzip", "plain-as-deflate", "corrupt-gzip"],
)
async def test_an_undecodable_body_is_a_400_invalid_encoding(make_proxy, upstream, label, body):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    resp = await client.post(
        CHAT, data=body, headers={"Content-Type": "application/json", "Content-Encoding": label}
    )
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_encoding")
    assert upstream.seen == []


@pytest.mark.parametrize("label", ["br", "compress", "x-gzip", "gzip, gzip", "foo"])
async def test_other_encodings_are_a_400_invalid_encoding(make_proxy, upstream, label):
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    resp = await client.post(
        CHAT, data=BODY, headers={"Content-Type": "application/json", "Content-Encoding": label}
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_encoding"
    assert upstream.seen == []


async def test_zstd_is_refused_and_never_forwarded(make_proxy, upstream):
    """Without a zstd library aiohttp's parser refuses the header itself (a 400 the
    server protocol shapes); with one, the handler refuses it like `br`."""
    client = await make_proxy({"models": [openai_route(upstream.url)]})
    resp = await client.post(
        CHAT, data=BODY, headers={"Content-Type": "application/json", "Content-Encoding": "zstd"}
    )
    assert resp.status == 400
    assert upstream.seen == []


async def test_the_size_limit_applies_after_decoding(make_proxy, upstream):
    client = await make_proxy({"models": [openai_route(upstream.url)]}, PROXY_MAX_BODY_BYTES="4096")
    big = orjson.dumps({"model": "gpt-4o-mini", "pad": "x" * 8192})
    resp = await client.post(
        CHAT,
        data=gzip.compress(big),  # ~100 bytes on the wire
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "request_too_large"
    assert upstream.seen == []


async def test_a_gzip_bomb_stops_near_the_limit(make_proxy, upstream):
    """256 MiB of zeros in ~250 KiB of gzip: decoding stops at the 1 MiB limit, and the
    process (gateway and test client together) never holds more than a small multiple
    of the limit, not the 256 MiB."""
    limit = 1 << 20
    bomb = gzip.compress(b"\0" * (256 << 20), compresslevel=9)
    client = await make_proxy(
        {"models": [openai_route(upstream.url)]}, PROXY_MAX_BODY_BYTES=str(limit)
    )
    tracemalloc.start()
    try:
        resp = await client.post(
            CHAT,
            data=bomb,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resp.status == 413
    assert peak < 16 * limit, peak
    assert upstream.seen == []
