"""Header hygiene between client, proxy and provider.

Requests: hop-by-hop headers, the client's credentials and cookies, and
client-network details are dropped; the route's key is sent the provider's way.
Responses: hop-by-hop headers, cookies and encodings are dropped; the upstream's
request id comes back as `x-upstream-request-id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from multidict import CIMultiDict, CIMultiDictProxy

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
# client session owns (the body goes up decoded: no `Content-Encoding`), where the
# client is on the network, and the headers proxies use to rewrite a request's
# host or path (with `X-Forwarded-*` and `Sec-*`: prefixes, in `_request_verdict`).
_REQUEST_DROP = HOP_BY_HOP | {
    "host",
    "content-length",
    "content-encoding",
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
    "x-real-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-original-host",
    "x-host",
}
_REQUEST_DROP_PREFIXES = ("sec-", "x-forwarded-")
# Upstream response headers the client never sees; the proxy sets its own
# request id and timing headers, so an upstream's (another proxy's) are dropped.
_RESPONSE_DROP = HOP_BY_HOP | {
    "content-length",
    "content-encoding",
    "set-cookie",
    "server",
    "date",
    "x-request-id",
    "x-upstream-request-id",
    "x-upstream-request-start",
    "x-upstream-request-stop",
    "server-timing",
}
DEFAULT_ANTHROPIC_VERSION = "2023-06-01"


_DROP, _KEEP, _VERSION = 0, 1, 2


# Lower-casing and set lookups per header per request add up; header names
# repeat, so each verdict is a pure function of the name as received, cached.
@lru_cache(maxsize=2048)
def _request_verdict(name: str) -> int:
    lname = name.lower()
    if lname in _REQUEST_DROP or lname.startswith(_REQUEST_DROP_PREFIXES):
        return _DROP
    return _VERSION if lname == "anthropic-version" else _KEEP


@lru_cache(maxsize=256)
def _connection_tokens(value: str) -> frozenset[str] | None:
    """Extra hop-by-hop names a `Connection` header lists (None: nothing extra)."""
    tokens = {token.strip().lower() for token in value.split(",")} - HOP_BY_HOP - {""}
    return frozenset(tokens) if tokens else None


def upstream_headers(client: Mapping[str, str], route: Route) -> dict[str, str]:
    """Headers to send upstream for a client request served by `route`."""
    connection = client.get("Connection")
    named = _connection_tokens(connection) if connection else None
    verdict = _request_verdict
    out: dict[str, str] = {}
    has_version = False
    for name, value in client.items():
        action = verdict(name)
        if action == _DROP or (named is not None and name.lower() in named):
            continue
        if action == _VERSION:
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


def copy_response_headers(upstream: CIMultiDictProxy[str], out: CIMultiDict[str]) -> None:
    """Add the upstream response headers the client may see to `out`."""
    items = list(upstream.items())
    for i in _response_plan(tuple(upstream.keys()), upstream.get("Connection")):
        if i < 0:  # the upstream's request id, renamed
            out.add("x-upstream-request-id", items[~i][1])
        else:
            name, value = items[i]
            out.add(name, value)


# An upstream sends the same header names in the same order response after
# response, so which positions to keep is decided once per distinct name list.
@lru_cache(maxsize=512)
def _response_plan(names: tuple[str, ...], connection: str | None) -> tuple[int, ...]:
    """Positions to copy; ~i for the upstream's x-request-id."""
    lowered = [name.lower() for name in names]
    named = (_connection_tokens(connection) if connection else None) or frozenset()
    plan = []
    for i, lname in enumerate(lowered):
        if lname == "x-request-id":
            plan.append(~i)
        elif lname not in _RESPONSE_DROP and lname not in named:
            plan.append(i)
    return tuple(plan)
