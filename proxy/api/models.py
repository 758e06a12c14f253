"""GET /v1/models and /v1/models/{id}, answered from the tenant's config."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from proxy.errors import ModelNotFoundError
from proxy.tenancy.config import TenantConfig


def is_models_path(method: str, path: str) -> bool:
    return method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/"))


def models_response(config: TenantConfig, path: str) -> web.Response:
    listed = config.listed_models()
    if path == "/v1/models":
        doc: dict[str, Any] = {
            "object": "list",
            "data": [_model(name, owner, config.loaded_at) for name, owner in listed],
        }
    else:
        wanted = unquote(path[len("/v1/models/") :])
        owners = dict(listed)
        if wanted not in owners:
            raise ModelNotFoundError(f"The model '{wanted}' does not exist.", param="model")
        doc = _model(wanted, owners[wanted], config.loaded_at)
    return web.Response(body=orjson.dumps(doc), content_type="application/json")


def _model(name: str, owner: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": owner}
