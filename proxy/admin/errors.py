"""Management API errors: rendered as everywhere (api.errors), a sealed key logged by id."""

from __future__ import annotations

import logging

from aiohttp import web

from proxy.api.errors import error_response
from proxy.errors import ProxyError, SealedKeyError

log = logging.getLogger("proxy.admin")


def admin_error_response(error: ProxyError, request_id: str) -> web.Response:
    """The error's JSON answer; a key that does not open is a plain 500, its key id logged."""
    if isinstance(error, SealedKeyError):
        log.error(
            "tenant key cannot be decrypted",
            extra={"key_id": error.key_id, "user_id": error.tenant_id, "reason": error.reason},
        )
    return error_response(error, request_id)
