"""/admin/tenants/{id}/tokens: mint, list and revoke proxy tokens (SPEC 6, 7.1).

A token is shown once, in the mint answer; the store keeps its SHA-256 only. A
revocation is applied to this worker's token checks before the 204 goes out and
published to every other worker (tenancy.changes).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from proxy import keys
from proxy.admin.bodies import json_response, page_args, read_object
from proxy.admin.routing import GuardedRoutes
from proxy.errors import InvalidRequestError, NotFoundError
from proxy.store import MAX_TOKEN_NAME, TokenRow, iso8601
from proxy.tenancy.proxy_tokens import mint_token, token_digest

DEFAULT_TTL_S = 3600
MAX_TTL_S = 30 * 86400


def add_routes(router: GuardedRoutes) -> None:
    path = "/tenants/{tenant_id}/tokens"
    router.add_post(path, mint)
    router.add_get(path, list_tokens)
    router.add_delete(path + "/{token_id}", revoke)


async def mint(request: web.Request) -> web.Response:
    """POST `{"ttl_s": 3600, "name": "..."}` (both optional) -> 201 with the token, once."""
    tenant_id = request.match_info["tenant_id"]
    body = await read_object(request, "the token request", optional=True)
    ttl_s, name = _ttl(body.get("ttl_s", DEFAULT_TTL_S)), _name(body.get("name"))
    token = mint_token()
    row = await request.config_dict[keys.STORE].add_token(
        tenant_id, digest=token_digest(token).hex(), name=name, expires_at=time.time() + ttl_s
    )
    if row is None:
        raise NotFoundError(f"No tenant {tenant_id!r}.")
    return json_response(
        {
            "token_id": row.token_id,
            "token": token,
            "tenant_id": row.tenant_id,
            "name": row.name or None,
            "expires_at": iso8601(row.expires_at),
        },
        status=201,
    )


async def list_tokens(request: web.Request) -> web.Response:
    """GET: the tenant's tokens, newest last, never the token itself."""
    store = request.config_dict[keys.STORE]
    tenant_id = request.match_info["tenant_id"]
    limit, cursor = page_args(request)
    page = await store.list_tokens(tenant_id, limit=limit, cursor=cursor)
    if not page.rows and await store.get_tenant(tenant_id) is None:
        raise NotFoundError(f"No tenant {tenant_id!r}.")
    return json_response(
        {"data": [token_json(row) for row in page.rows], "next_cursor": page.next_cursor}
    )


async def revoke(request: web.Request) -> web.Response:
    tenant_id, token_id = request.match_info["tenant_id"], request.match_info["token_id"]
    if not await request.config_dict[keys.STORE].revoke_token(tenant_id, token_id):
        raise NotFoundError(f"No token {token_id!r} for tenant {tenant_id!r}.")
    await request.config_dict[keys.CHANGES].changed(tenant_id)
    return web.Response(status=204)


def token_json(row: TokenRow) -> dict[str, Any]:
    return {
        "token_id": row.token_id,
        "tenant_id": row.tenant_id,
        "name": row.name or None,
        "created_at": iso8601(row.created_at),
        "expires_at": iso8601(row.expires_at),
        "revoked_at": iso8601(row.revoked_at) if row.revoked_at is not None else None,
    }


def _ttl(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TTL_S:
        raise InvalidRequestError(
            f"ttl_s must be a whole number of seconds from 1 to {MAX_TTL_S} (30 days)",
            param="ttl_s",
        )
    return value


def _name(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_TOKEN_NAME or "\0" in value:
        raise InvalidRequestError(
            f"name must be a string of at most {MAX_TOKEN_NAME} characters", param="name"
        )
    return value
