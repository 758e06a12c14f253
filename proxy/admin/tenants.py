"""/admin/tenants: create, list, show, merge-patch and delete tenants (SPEC 7, 7.1).

Every change is applied to this worker's caches before the answer goes out and
published to every other worker (tenancy.changes). Keys are only ever shown masked.
"""

from __future__ import annotations

from aiohttp import web

from proxy import keys
from proxy.admin.bodies import json_response, page_args, read_object
from proxy.admin.documents import new_document, patched_document, tenant_json
from proxy.admin.routing import GuardedRoutes
from proxy.errors import NotFoundError, TenantChangedError
from proxy.store import TenantRow, TenantStore

PATCH_ATTEMPTS = 20  # concurrent PATCHes of one tenant each re-read and merge again


def add_routes(router: GuardedRoutes) -> None:
    router.add_post("/tenants", create_tenant)
    router.add_get("/tenants", list_tenants)
    router.add_get("/tenants/{tenant_id}", show_tenant)
    router.add_patch("/tenants/{tenant_id}", patch_tenant)
    router.add_delete("/tenants/{tenant_id}", delete_tenant)


async def create_tenant(request: web.Request) -> web.Response:
    """POST /admin/tenants `{"tenant_id", ...section 3}` -> 201; 409 tenant_exists."""
    store = request.config_dict[keys.STORE]
    tenant_id, document = new_document(await read_object(request, "the tenant"))
    row = await store.create_tenant(tenant_id, document)
    await request.config_dict[keys.CHANGES].changed(tenant_id)  # a remembered 404 goes
    return json_response(tenant_json(row), status=201)


async def list_tenants(request: web.Request) -> web.Response:
    limit, cursor = page_args(request)
    page = await request.config_dict[keys.STORE].list_tenants(limit=limit, cursor=cursor)
    return json_response(
        {"data": [tenant_json(row) for row in page.rows], "next_cursor": page.next_cursor}
    )


async def show_tenant(request: web.Request) -> web.Response:
    store = request.config_dict[keys.STORE]
    return json_response(tenant_json(await _existing(store, request.match_info["tenant_id"])))


async def patch_tenant(request: web.Request) -> web.Response:
    """PATCH: a JSON merge patch (RFC 7396); a masked api_key keeps the stored key."""
    store = request.config_dict[keys.STORE]
    tenant_id = request.match_info["tenant_id"]
    patch = await read_object(request, "the merge patch")
    for _ in range(PATCH_ATTEMPTS):
        row = await _existing(store, tenant_id)
        document = patched_document(row, patch)
        try:
            updated = await store.replace_tenant(tenant_id, document, expected_version=row.version)
        except TenantChangedError:
            continue  # another write landed in between: merge into it
        if updated is None:
            raise NotFoundError(f"No tenant {tenant_id!r}.")
        await request.config_dict[keys.CHANGES].changed(tenant_id)
        return json_response(tenant_json(updated))
    raise TenantChangedError("The tenant kept changing during this update; send it again.")


async def delete_tenant(request: web.Request) -> web.Response:
    """DELETE: the tenant and (revoked) its tokens; its usage stays."""
    tenant_id = request.match_info["tenant_id"]
    if not await request.config_dict[keys.STORE].delete_tenant(tenant_id):
        raise NotFoundError(f"No tenant {tenant_id!r}.")
    await request.config_dict[keys.CHANGES].changed(tenant_id)
    return web.Response(status=204)


async def _existing(store: TenantStore, tenant_id: str) -> TenantRow:
    row = await store.get_tenant(tenant_id)
    if row is None:
        raise NotFoundError(f"No tenant {tenant_id!r}.")
    return row
