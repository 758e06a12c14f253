"""`GET /users/{id}/config`: the built-in store serving the Config API contract (SPEC 4, 7.1).

So one tenant-proxy can be another's Config API. On the main app's router (it has no
`/v1/`), ahead of the `/users/...` proxy route. The caller presents the admin key or
CONFIG_API_KEY (both digests compared, in constant time); the document comes back as
stored, keys in plain text; an unknown tenant is 404 `config_not_found`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from proxy import keys
from proxy.admin.bodies import json_response
from proxy.admin.errors import admin_error_response
from proxy.api.errors import internal_error_response
from proxy.api.paths import check_user_id, split_path
from proxy.errors import (
    AuthenticationError,
    ConfigNotFoundError,
    MissingCredentialsError,
    ProxyError,
)
from proxy.tenancy.auth import presented_token

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def config_document_handler(*api_keys: str | None) -> Handler:
    """The handler, accepting any of `api_keys` (the admin key, CONFIG_API_KEY)."""
    digests = tuple(hashlib.sha256(k.encode()).digest() for k in api_keys if k)

    def is_allowed(token: str) -> bool:
        digest = hashlib.sha256(token.encode()).digest()
        found = False
        for known in digests:  # every digest is compared: no early exit
            found |= hmac.compare_digest(digest, known)
        return found

    async def config_document(request: web.Request) -> web.Response:
        request_id = request.app[keys.IDS].request_id(request.headers.get("X-Request-ID"))
        try:
            split_path(request.raw_path)
            token = presented_token(request.headers)
            if token is None:
                raise MissingCredentialsError(
                    "The Config API needs 'Authorization: Bearer <admin key or CONFIG_API_KEY>'."
                )
            if not is_allowed(token):
                raise AuthenticationError("Invalid key.")
            user_id = check_user_id(request.match_info["user_id"])
            row = await request.app[keys.STORE].get_tenant(user_id)
            if row is None:
                raise ConfigNotFoundError("No configuration exists for this user.")
        except ProxyError as e:
            return admin_error_response(e, request_id)
        except Exception:
            return internal_error_response(request, request_id)
        response = json_response(row.document)
        response.headers["x-request-id"] = request_id
        return response

    return config_document
