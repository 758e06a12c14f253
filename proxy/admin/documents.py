"""Tenant documents as the management API shows and takes them (SPEC 3, 7.1).

Pure functions, no I/O: masking keys for display, the input rules (output-only
fields dropped, `tenant_id` fixed), RFC 7396 merge patch with the masked-key rule,
and validation by section 3's parser, its field named in `param`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from proxy.errors import InvalidConfigError
from proxy.redaction import mask_key
from proxy.store import TENANT_ID, TenantRow, iso8601
from proxy.tenancy.config import ConfigError, parse_tenant_config

# What the API adds to a document; a document read, edited and sent back may carry them.
OUTPUT_FIELDS = ("tenant_id", "created_at", "updated_at")
TENANT_ID_RULE = "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


def tenant_json(row: TenantRow) -> dict[str, Any]:
    """`{"tenant_id", <document, keys masked>, "created_at", "updated_at"}`."""
    return {
        "tenant_id": row.tenant_id,
        **masked(row.document),
        "created_at": iso8601(row.created_at),
        "updated_at": iso8601(row.updated_at),
    }


def masked(document: dict[str, Any]) -> dict[str, Any]:
    """A copy whose `api_key` values (models[] and default) show as `sk-...abcd`."""
    out = _copy_routes(document)
    for _, route in _routes(out):
        key = route.get("api_key")
        if isinstance(key, str):
            route["api_key"] = mask_key(key)
    return out


def checked_tenant_id(value: Any) -> str:
    if not isinstance(value, str) or not TENANT_ID.fullmatch(value):
        raise InvalidConfigError(f"tenant_id: {TENANT_ID_RULE}", param="tenant_id")
    return value


def new_document(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(tenant id, document) of a create request, validated."""
    tenant_id = checked_tenant_id(body.get("tenant_id"))
    document = {k: v for k, v in body.items() if k not in OUTPUT_FIELDS}
    validate(document)
    return tenant_id, document


def patched_document(row: TenantRow, patch: dict[str, Any]) -> dict[str, Any]:
    """The stored document with `patch` merged in (RFC 7396), validated.

    A masked `api_key` equal to what the API shows for the key stored on the route
    with the same `model_name` (or on `default`) keeps that stored key."""
    given_id = patch.get("tenant_id")
    if given_id is not None and given_id != row.tenant_id:
        raise InvalidConfigError("tenant_id: cannot be changed", param="tenant_id")
    patch = {k: v for k, v in patch.items() if k not in OUTPUT_FIELDS}
    merged = merge_patch(row.document, patch)
    if not isinstance(merged, dict):
        raise InvalidConfigError("(document): must be a JSON object", param=None)
    document = keep_masked_keys(merged, row.document)
    validate(document)
    return document


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge member by member, `null` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = merge_patch(out.get(name), value)
    return out


def keep_masked_keys(document: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    stored_keys = {
        name: route["api_key"]
        for name, route in _named_routes(stored)
        if isinstance(route.get("api_key"), str)
    }
    out = _copy_routes(document)
    for name, route in _named_routes(out):
        key, kept = route.get("api_key"), stored_keys.get(name)
        if isinstance(key, str) and kept is not None and key == mask_key(kept):
            route["api_key"] = kept
    return out


def validate(document: dict[str, Any]) -> None:
    """Section 3's rules; the error names the field (`models[1].api_base`)."""
    try:
        parse_tenant_config(document)
    except ConfigError as e:
        param = None if e.field == "(document)" else e.field
        raise InvalidConfigError(f"{e.field}: {e.problem}", param=param) from None


def _copy_routes(document: dict[str, Any]) -> dict[str, Any]:
    out = dict(document)
    if isinstance(out.get("models"), list):
        out["models"] = [dict(r) if isinstance(r, dict) else r for r in out["models"]]
    if isinstance(out.get("default"), dict):
        out["default"] = dict(out["default"])
    return out


def _routes(document: dict[str, Any]) -> Iterator[tuple[int | None, dict[str, Any]]]:
    models = document.get("models")
    if isinstance(models, list):
        for i, route in enumerate(models):
            if isinstance(route, dict):
                yield i, route
    default = document.get("default")
    if isinstance(default, dict):
        yield None, default


def _named_routes(document: dict[str, Any]) -> Iterator[tuple[tuple[str, Any], dict[str, Any]]]:
    """Routes by identity: ("model", model_name) or ("default", None). A route whose
    `model_name` is not a string has none (validation refuses it, 400 invalid_config)."""
    for i, route in _routes(document):
        if i is None:
            yield ("default", None), route
        elif isinstance(name := route.get("model_name"), str):
            yield ("model", name), route
