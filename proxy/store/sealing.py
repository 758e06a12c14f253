"""Sealing a tenant document's upstream keys before it reaches a database.

Every `api_key` string in `models[]` and `default` becomes `enc:v1:<key id>:<base64>`
(AES-256-GCM through `KeyRing`, associated data = the tenant id, so a value copied to
another tenant does not open). Nothing else in the document is secret or changed.
Backends only ever see sealed documents; the store never writes a plain key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from proxy.errors import EncryptionNotConfiguredError, InvalidRequestError, SealedKeyError
from proxy.keyring import KeyRing, SealedValueError, UnknownKeyError


def _routes(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(param path, route) for every route of the document that is a JSON object."""
    models = document.get("models")
    if isinstance(models, list):
        for i, route in enumerate(models):
            if isinstance(route, dict):
                yield f"models[{i}]", route
    default = document.get("default")
    if isinstance(default, dict):
        yield "default", default


def _map_keys(document: dict[str, Any], change: Callable[[str, str], str]) -> dict[str, Any]:
    """A copy of `document` whose api_key values went through change(param, value)."""
    out = dict(document)
    if isinstance(out.get("models"), list):
        out["models"] = [dict(r) if isinstance(r, dict) else r for r in out["models"]]
    if isinstance(out.get("default"), dict):
        out["default"] = dict(out["default"])
    for param, route in _routes(out):
        if "api_key" in route and route["api_key"] is not None:
            value = route["api_key"]
            if not isinstance(value, str):
                raise InvalidRequestError(
                    f"{param}.api_key must be a string", param=f"{param}.api_key"
                )
            route["api_key"] = change(f"{param}.api_key", value)
    return out


def sealed_key_ids(document: dict[str, Any]) -> set[str]:
    """The key ids the sealed values of a stored document name."""
    ids: set[str] = set()
    for _, route in _routes(document):
        value = route.get("api_key")
        if isinstance(value, str):
            ids.add(KeyRing.key_id_of(value.encode()) or "")
    return ids


class DocumentSealer:
    def __init__(self, keyring: KeyRing | None) -> None:
        self._keyring = keyring

    @property
    def sealing_key_id(self) -> str | None:
        return self._keyring.sealing_key_id if self._keyring else None

    def seal(self, tenant_id: str, document: dict[str, Any]) -> dict[str, Any]:
        """The document as it may be stored. Raises EncryptionNotConfiguredError."""

        def seal_one(param: str, value: str) -> str:
            if self._keyring is None:
                raise EncryptionNotConfiguredError(
                    f"{param}: upstream keys are stored encrypted, and no key is configured "
                    "(set PROXY_ENCRYPTION_KEY or PROXY_ENCRYPTION_KEYS)",
                    param=param,
                )
            return self._keyring.seal(value.encode(), tenant_id).decode()

        return _map_keys(document, seal_one)

    def open(self, tenant_id: str, document: dict[str, Any]) -> dict[str, Any]:
        """The stored document with its keys in plain text. Raises SealedKeyError."""
        return _map_keys(document, lambda _, value: self._open_one(tenant_id, value))

    def reseal(self, tenant_id: str, document: dict[str, Any]) -> dict[str, Any] | None:
        """The stored document sealed under the first key, or None when it already is."""
        first = self.sealing_key_id
        if first is None or sealed_key_ids(document) <= {first}:
            return None
        return self.seal(tenant_id, self.open(tenant_id, document))

    def _open_one(self, tenant_id: str, value: str) -> str:
        raw = value.encode()
        key_id = KeyRing.key_id_of(raw)
        if key_id is None:
            raise SealedKeyError("", tenant_id=tenant_id, reason="stored key is not sealed")
        if self._keyring is None:
            raise SealedKeyError(key_id, tenant_id=tenant_id, reason="no key ring configured")
        try:
            return self._keyring.open(raw, tenant_id).decode()
        except UnknownKeyError:
            raise SealedKeyError(
                key_id, tenant_id=tenant_id, reason="key id not in the key ring"
            ) from None
        except (SealedValueError, UnicodeDecodeError):
            raise SealedKeyError(
                key_id, tenant_id=tenant_id, reason="damaged, or sealed for another tenant"
            ) from None
