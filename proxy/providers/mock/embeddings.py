"""The mock's OpenAI Embeddings answers: deterministic vectors, floats or base64.

A vector is derived from the SHA-256 of its input, so the same text always gets
the same embedding; `dimensions` (1-3072) is honoured, default 8.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Iterator
from typing import Any

import orjson

from proxy.body import RequestBody
from proxy.providers.mock.reply import Clock, error_reply
from proxy.providers.provider import LocalReply
from proxy.streaming.usage import Usage

EMBEDDING_DIMENSIONS = 8


def answer(body: RequestBody, model: str, ids: Iterator[int], clock: Clock) -> LocalReply:
    doc = body.doc or {}
    inputs = doc.get("input")
    if isinstance(inputs, str) or (
        isinstance(inputs, list) and inputs and isinstance(inputs[0], int)
    ):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs:
        return error_reply(400, "'input' must be a string or a non-empty list.", param="input")
    dims = doc.get("dimensions")
    dims = dims if isinstance(dims, int) and 0 < dims <= 3072 else EMBEDDING_DIMENSIONS
    as_base64 = doc.get("encoding_format") == "base64"
    data, tokens = [], 0
    for i, item in enumerate(inputs):
        text = item if isinstance(item, str) else orjson.dumps(item).decode()
        tokens += max(1, math.ceil(len(text) / 4))
        data.append(
            {"object": "embedding", "index": i, "embedding": _embedding(text, dims, as_base64)}
        )
    out = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    usage = Usage(input_tokens=tokens, output_tokens=0)
    return LocalReply(200, "application/json", orjson.dumps(out), usage=usage)


def _embedding(text: str, dims: int, as_base64: bool) -> Any:
    vector = _vector(text, dims)
    if as_base64:
        return base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
    return vector


def _vector(text: str, dims: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    raw = (seed * (dims // 32 + 1))[:dims]
    return [round(b / 127.5 - 1.0, 6) for b in raw]
