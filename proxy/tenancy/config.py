"""The tenant configuration document (SPEC section 3) and its validator.

One schema everywhere: the static YAML file, a Config API response and the
built-in store all go through `parse_tenant_config`, which returns an immutable
`TenantConfig` or raises `ConfigError` naming the field and what is wrong.
Unknown fields are ignored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from proxy.errors import ModelNotAllowedError, ModelNotFoundError
from proxy.providers import DEFAULT_PROVIDER, PROVIDERS
from proxy.route import DEFAULT_TIMEOUT_S, Route


class ConfigError(ValueError):
    """A tenant document is invalid; `field` is a dotted path like `models[1].api_base`."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class TenantConfig:
    routes: Mapping[str, Route]
    default: Route | None = None
    allowed_models: frozenset[str] | None = None
    budget_monthly_usd: float | None = None
    limits_rpm: int | None = None
    limits_tpm: int | None = None
    loaded_at: int = field(default_factory=lambda: int(time.time()), compare=False)

    def route_for(self, model: str | None) -> Route:
        """The route serving `model`; a request without a model uses `default`."""
        if model is not None and self.allowed_models is not None:
            if model not in self.allowed_models:
                raise ModelNotAllowedError(
                    f"The model '{model}' is not allowed for this tenant.", param="model"
                )
        route = self.routes.get(model) if model is not None else None
        if route is None:
            route = self.default
        if route is None:
            if model is None:
                raise ModelNotFoundError(
                    "This request names no model and no default route is configured.",
                    param="model",
                )
            raise ModelNotFoundError(f"The model '{model}' does not exist.", param="model")
        return route

    def listed_models(self) -> list[tuple[str, str]]:
        """(id, owned_by) for GET /v1/models: `allowed_models` when given, else routes."""
        if self.allowed_models is not None:
            names = sorted(self.allowed_models)
        else:
            names = list(self.routes)
        out = []
        for name in names:
            route = self.routes.get(name) or self.default
            out.append((name, route.provider if route is not None else "unknown"))
        return out


def parse_tenant_config(doc: Any) -> TenantConfig:
    if not isinstance(doc, Mapping):
        raise ConfigError("(document)", "must be a mapping/object")
    routes: dict[str, Route] = {}
    models = doc.get("models")
    if models is not None:
        if not isinstance(models, list):
            raise ConfigError("models", "must be a list")
        for i, entry in enumerate(models):
            route = _parse_route(entry, f"models[{i}]", named=True)
            assert route.model_name is not None
            if route.model_name in routes:
                raise ConfigError(f"models[{i}].model_name", f"duplicate '{route.model_name}'")
            routes[route.model_name] = route
    default = None
    if doc.get("default") is not None:
        default = _parse_route(doc["default"], "default", named=False)
    allowed = None
    if doc.get("allowed_models") is not None:
        raw = doc["allowed_models"]
        if not isinstance(raw, list) or not all(isinstance(m, str) and m for m in raw):
            raise ConfigError("allowed_models", "must be a list of model names")
        allowed = frozenset(raw)
    budget = _section(doc, "budget")
    limits = _section(doc, "limits")
    return TenantConfig(
        routes=routes,
        default=default,
        allowed_models=allowed,
        budget_monthly_usd=_number(budget, "monthly_usd", "budget.monthly_usd", minimum=0.0),
        limits_rpm=_whole(limits, "rpm", "limits.rpm"),
        limits_tpm=_whole(limits, "tpm", "limits.tpm"),
    )


def normalise_api_base(value: str) -> str:
    base = value.rstrip("/")
    if base.endswith("/v1"):
        base = base[:-3].rstrip("/")
    return base


def _section(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = doc.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(name, "must be a mapping/object")
    return value


def _parse_route(entry: Any, where: str, *, named: bool) -> Route:
    if not isinstance(entry, Mapping):
        raise ConfigError(where, "must be a mapping/object")
    model_name = None
    if named:
        model_name = entry.get("model_name")
        if not isinstance(model_name, str) or not model_name:
            raise ConfigError(f"{where}.model_name", "required, a non-empty string")
    provider = entry.get("provider", DEFAULT_PROVIDER)
    if not isinstance(provider, str) or provider not in PROVIDERS:
        raise ConfigError(f"{where}.provider", f"must be one of {', '.join(PROVIDERS)}")
    api_base = entry.get("api_base")
    if api_base is None:
        api_base = PROVIDERS[provider].default_api_base
        if api_base is None:
            raise ConfigError(f"{where}.api_base", f"required for provider '{provider}'")
    elif not isinstance(api_base, str) or not _is_http_url(api_base):
        raise ConfigError(f"{where}.api_base", "must be an http:// or https:// URL with a host")
    return Route(
        provider=provider,
        api_base=normalise_api_base(api_base),
        model_name=model_name,
        api_key=_string(entry, "api_key", f"{where}.api_key"),
        upstream_model=_string(entry, "upstream_model", f"{where}.upstream_model")
        if named
        else None,
        input_cost_per_mtok=_number(entry, "input_cost_per_mtok", f"{where}.input_cost_per_mtok"),
        output_cost_per_mtok=_number(
            entry, "output_cost_per_mtok", f"{where}.output_cost_per_mtok"
        ),
        cached_input_cost_per_mtok=_number(
            entry, "cached_input_cost_per_mtok", f"{where}.cached_input_cost_per_mtok"
        ),
        timeout_s=_number(entry, "timeout_s", f"{where}.timeout_s", positive=True)
        or DEFAULT_TIMEOUT_S,
        mock_latency_ms=_number(entry, "mock_latency_ms", f"{where}.mock_latency_ms") or 0.0,
    )


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        return False


def _string(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(where, "must be a non-empty string")
    return value


def _number(
    entry: Mapping[str, Any],
    key: str,
    where: str,
    *,
    minimum: float = 0.0,
    positive: bool = False,
) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(where, "must be a number")
    if positive and value <= 0:
        raise ConfigError(where, "must be greater than 0")
    if value < minimum:
        raise ConfigError(where, "must not be negative")
    return float(value)


def _whole(entry: Mapping[str, Any], key: str, where: str) -> int | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(where, "must be a whole number")
    if value < 0:
        raise ConfigError(where, "must not be negative")
    return value
