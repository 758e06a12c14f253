"""Header hygiene between client, proxy and provider.

Requests: hop-by-hop headers, the client's credentials and cookies, and
client-network details are dropped; the route's key is sent the provider's way.
Responses: hop-by-hop headers, cookies and encodings are dropped; the upstream's
request id comes back as `x-upstream-request-id`.
"""

from __future__ import annotations

from collections.abc import Mapping

from multidict import CIMultiDict

from proxy.errors import MissingUpstreamKeyError
from proxy.tenancy.config import Route

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Client headers that never reach an upstream: credentials, cookies, framing the
# client session owns, and where the client is on the network.
_REQUEST_DROP = HOP_BY_HOP | {
    "host",
    "content-length",
    "expect",
    "accept-encoding",
    "authorization",
    "x-provider-api-key",
    "x-api-key",
    "api-key",
    "cookie",
    "origin",
    "referer",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
}
_RESPONSE_DROP = HOP_BY_HOP | {
    "content-length",
    "content-encoding",
    "set-cookie",
    "server",
    "date",
    "x-request-id",
}
DEFAULT_ANTHROPIC_VERSION = "2023-06-01"


def upstream_headers(client: Mapping[str, str], route: Route) -> dict[str, str]:
    """Headers to send upstream for a client request served by `route`."""
    connection = client.get("Connection")
    named = _connection_tokens(connection) if connection else None
    out: dict[str, str] = {}
    has_version = False
    for name, value in client.items():
        lname = name.lower()
        if lname in _REQUEST_DROP or lname.startswith("sec-"):
            continue
        if named is not None and lname in named:
            continue
        if lname == "anthropic-version":
            has_version = True
        out[name] = value
    key = route.api_key or client.get("X-Provider-API-Key")
    if not key:
        raise MissingUpstreamKeyError(
            "No upstream API key: the route has no api_key and the request has no "
            "X-Provider-API-Key header."
        )
    out["Accept-Encoding"] = "identity"
    if route.provider == "anthropic":
        out["x-api-key"] = key
        if not has_version:
            out["anthropic-version"] = DEFAULT_ANTHROPIC_VERSION
    else:
        out["Authorization"] = "Bearer " + key
    return out


def client_headers(upstream: Mapping[str, str]) -> CIMultiDict[str]:
    """Headers of an upstream response that the client gets back."""
    connection = upstream.get("Connection")
    named = _connection_tokens(connection) if connection else None
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream.items():
        lname = name.lower()
        if lname in _RESPONSE_DROP or (named is not None and lname in named):
            if lname == "x-request-id":
                out["x-upstream-request-id"] = value
            continue
        out.add(name, value)
    return out


def _connection_tokens(value: str) -> frozenset[str]:
    return frozenset(token.strip().lower() for token in value.split(",") if token.strip())
