"""The body sent upstream: the client's bytes, unless an edit is needed.

The body is forwarded as the bytes received unless the model name must be
rewritten or `stream_options.include_usage` added; the second is spliced into
the bytes when the client sent no `stream_options` at all. The bytes are the
decoded body (see `proxy.body`), so they go without the client's `Content-Encoding`
(upstream.headers drops it).
"""

from __future__ import annotations

import orjson

from proxy.body import RequestBody
from proxy.route import Route

_USAGE_OPTION = b'"stream_options":{"include_usage":true},'


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
