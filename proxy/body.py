"""RequestBody: what the proxy needs from a client's request body. A leaf value.

The edge inspects a body once (`inspect_body`); the route choice, the provider
table (the mock reads it; translations will), the exchange and the settlement read
the result. Bodies that are not JSON are never parsed: multipart uploads give up
their `model` field, anything else is opaque.

Request `Content-Encoding`: aiohttp's request parser decodes `gzip` and `deflate`
bodies itself as they arrive, in bounded steps under flow control, so the app's
`client_max_size` bounds the decoded size (413) and a compression bomb stops there.
The proxy only refuses what the parser does not decode (`check_content_encoding`:
another encoding, or a list of them) and forwards the decoded bytes without the header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from proxy.errors import InvalidEncodingError, InvalidJSONError, InvalidRequestError

_MULTIPART_MODEL = re.compile(
    rb'content-disposition:[^\r\n]*name="model"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n([^\r\n]{1,256})\r\n',
    re.IGNORECASE,
)
# What aiohttp's request parser decodes (it lower-cases the value; `br` and `zstd` too
# when their libraries are installed, which SPEC does not offer); `identity` is no
# encoding at all.
_ACCEPTED_ENCODINGS = frozenset({"gzip", "deflate", "identity"})


def check_content_encoding(value: str) -> None:
    """Refuse a request body in an encoding the proxy does not decode."""
    if value.lower() not in _ACCEPTED_ENCODINGS:
        raise InvalidEncodingError(
            "Unsupported Content-Encoding: request bodies may be gzip or deflate.",
            param="Content-Encoding",
        )


@dataclass(slots=True)
class RequestBody:
    raw: bytes
    doc: dict[str, Any] | None = None  # the parsed JSON object, for JSON bodies
    model: str | None = None
    stream: bool = False

    @property
    def asks_usage(self) -> bool:
        """Did the client itself ask for the usage chunk of an OpenAI chat stream?"""
        if self.doc is None:
            return False
        options = self.doc.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True


def inspect_body(raw: bytes, content_type: str) -> RequestBody:
    if not raw:
        return RequestBody(raw)
    if content_type.startswith("multipart/"):
        match = _MULTIPART_MODEL.search(raw, 0, 65536)
        model = match.group(1).decode("utf-8", "replace").strip() if match else None
        return RequestBody(raw, model=model or None)
    if "json" not in content_type and raw.lstrip()[:1] not in (b"{", b"["):
        return RequestBody(raw)  # opaque upload: forwarded, never parsed
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidJSONError(f"The request body is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidJSONError("The request body must be a JSON object.")
    model = doc.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidRequestError("'model' must be a string.", param="model")
    return RequestBody(raw, doc, model, doc.get("stream") is True)
