"""Static mode's config: one YAML file, one tenant.

`${VAR}` and `${VAR:-fallback}` in string values are expanded from the environment
given (after YAML parsing, so a variable's value can never change the document's
structure). A variable that is unset and has no fallback is an error naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from proxy.tenancy.auth import StaticKeyVerifier, parse_key_digest
from proxy.tenancy.config import ConfigError, TenantConfig, parse_tenant_config

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class StaticConfigError(ValueError):
    """The static file cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class StaticConfig:
    tenant: TenantConfig
    verifier: StaticKeyVerifier | None  # None: no `auth.keys`, any caller is accepted


def load_static_config(path: str, environ: Mapping[str, str]) -> StaticConfig:
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except FileNotFoundError:
        raise StaticConfigError(f"{path}: file not found (set PROXY_CONFIG)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StaticConfigError(f"{path}: cannot read: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise StaticConfigError(f"{path}: not valid YAML{where}") from None
    try:
        doc = _expand(doc, environ, "")
        tenant = parse_tenant_config(doc)
        verifier = _parse_auth(doc)
    except ConfigError as e:
        raise StaticConfigError(f"{path}: {e}") from None
    return StaticConfig(tenant=tenant, verifier=verifier)


def _expand(value: Any, environ: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):
        return _expand_string(value, environ, where)
    if isinstance(value, list):
        return [_expand(v, environ, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {
            k: _expand(v, environ, f"{where}.{k}" if where else str(k)) for k, v in value.items()
        }
    return value


def _expand_string(value: str, environ: Mapping[str, str], where: str) -> str | None:
    def sub(m: re.Match[str]) -> str:
        name, fallback = m.group(1), m.group(2)
        found = environ.get(name)
        if found is None or (found == "" and fallback is not None):
            if fallback is None:
                raise ConfigError(where, f"environment variable {name} is not set")
            return fallback
        return found

    expanded = _VAR.sub(sub, value)
    # A value that was only a variable expanding to nothing means "not set".
    return None if expanded == "" and value != "" else expanded


def _parse_auth(doc: Mapping[str, Any]) -> StaticKeyVerifier | None:
    auth = doc.get("auth")
    if auth is None:
        return None
    if not isinstance(auth, Mapping):
        raise ConfigError("auth", "must be a mapping/object")
    keys = auth.get("keys")
    if keys is None:
        return None
    if not isinstance(keys, list):
        raise ConfigError("auth.keys", "must be a list of keys")
    digests = []
    for i, key in enumerate(keys):
        if not isinstance(key, str) or not key:
            raise ConfigError(f"auth.keys[{i}]", "must be a non-empty string")
        try:
            digests.append(parse_key_digest(key))
        except ValueError as e:
            raise ConfigError(f"auth.keys[{i}]", str(e)) from None
    return StaticKeyVerifier(tuple(digests)) if digests else None
