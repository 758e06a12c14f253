"""What the proxy needs from a request body, and the few edits it may make.

The body is forwarded as the bytes received unless the model name must be
rewritten or `stream_options.include_usage` added; the second is spliced into
the bytes when the client sent no `stream_options` at all.

Request `Content-Encoding`: aiohttp's request parser decodes `gzip` and `deflate`
bodies itself as they arrive, in bounded steps under flow control, so the app's
`client_max_size` bounds the decoded size (413) and a compression bomb stops there.
The proxy only refuses what the parser does not decode (another encoding, or a
list of them) and forwards the decoded bytes without the header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from proxy.errors import InvalidEncodingError, InvalidJSONError, InvalidRequestError
from proxy.tenancy.config import Route

_MULTIPART_MODEL = re.compile(
    rb'content-disposition:[^\r\n]*name="model"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n([^\r\n]{1,256})\r\n',
    re.IGNORECASE,
)
_USAGE_OPTION = b'"stream_options":{"include_usage":true},'


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


def upstream_body(body: RequestBody, route: Route, *, add_usage: bool) -> bytes:
    """The bytes to send upstream: the client's, unless an edit is needed."""
    rename = (
        route.upstream_model is not None
        and body.model is not None
        and route.upstream_model != body.model
    )
    if not rename and not add_usage:
        return body.raw
    assert body.doc is not None
    if not rename and "stream_options" not in body.doc:
        start = body.raw.index(b"{") + 1
        return body.raw[:start] + _USAGE_OPTION + body.raw[start:]
    doc = dict(body.doc)
    if rename:
        doc["model"] = route.upstream_model
    if add_usage:
        options = doc.get("stream_options")
        doc["stream_options"] = {
            **(options if isinstance(options, dict) else {}),
            "include_usage": True,
        }
    return orjson.dumps(doc)
