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
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from proxy.errors import ModelNotAllowedError, ModelNotFoundError
from proxy.providers import DEFAULT_PROVIDER, PROVIDERS
from proxy.route import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_RETRY_STATUSES,
    DEFAULT_TIMEOUT_S,
    BreakerPolicy,
    MockFaults,
    RetryPolicy,
    Route,
)

MAX_ATTEMPTS = 5


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
    fallbacks: dict[str, tuple[str, list[str]]] = {}  # model_name -> (where, names)
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
            fallbacks[route.model_name] = (f"models[{i}]", _names(entry, f"models[{i}]"))
    default = None
    if doc.get("default") is not None:
        default = _parse_route(doc["default"], "default", named=False)
        default = _with_fallbacks(default, "default", _names(doc["default"], "default"), routes)
    # Fallbacks name the routes as parsed: a fallback's own fallbacks are not followed.
    plain = dict(routes)
    for name, (where, names) in fallbacks.items():
        routes[name] = _with_fallbacks(plain[name], where, names, plain)
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
        mock_faults=_mock_faults(entry, where),
        max_tokens_default=_max_tokens_default(entry, where),
        retry=_retry(entry, where),
        breaker=_breaker(entry, where),
    )


def _max_tokens_default(entry: Mapping[str, Any], where: str) -> int:
    value = _whole(entry, "max_tokens_default", f"{where}.max_tokens_default")
    if value == 0:
        raise ConfigError(f"{where}.max_tokens_default", "must be at least 1")
    return value if value is not None else DEFAULT_MAX_TOKENS


def _names(entry: Mapping[str, Any], where: str) -> list[str]:
    value = entry.get("fallbacks")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(n, str) and n for n in value):
        raise ConfigError(f"{where}.fallbacks", "must be a list of model names")
    return value


def _with_fallbacks(
    route: Route, where: str, names: list[str], routes: Mapping[str, Route]
) -> Route:
    """`route` with its `fallbacks` resolved; a name that is no other route of the
    document makes the config invalid (SPEC 3)."""
    if not names:
        return route
    resolved = []
    for j, name in enumerate(names):
        if name == route.model_name:
            raise ConfigError(f"{where}.fallbacks[{j}]", f"'{name}' names the route itself")
        target = routes.get(name)
        if target is None:
            raise ConfigError(
                f"{where}.fallbacks[{j}]", f"'{name}' is no model_name of this document"
            )
        resolved.append(target)
    return replace(route, fallbacks=tuple(resolved))


def _retry(entry: Mapping[str, Any], where: str) -> RetryPolicy | None:
    block = _block(entry, "retry", where)
    if block is None:
        return None
    where = f"{where}.retry"
    attempts = _whole(block, "attempts", f"{where}.attempts")
    if attempts is not None and not 1 <= attempts <= MAX_ATTEMPTS:
        raise ConfigError(f"{where}.attempts", f"must be from 1 to {MAX_ATTEMPTS}")
    statuses = block.get("on_status")
    if statuses is not None and (
        not isinstance(statuses, list)
        or not all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses
        )
    ):
        raise ConfigError(f"{where}.on_status", "must be a list of HTTP statuses")
    backoff = _number(block, "backoff_ms", f"{where}.backoff_ms")
    max_wait = _number(block, "max_wait_s", f"{where}.max_wait_s")
    defaults = RetryPolicy()
    return RetryPolicy(
        attempts=attempts if attempts is not None else defaults.attempts,
        on_status=frozenset(statuses) if statuses is not None else DEFAULT_RETRY_STATUSES,
        backoff_ms=backoff if backoff is not None else defaults.backoff_ms,
        max_wait_s=max_wait if max_wait is not None else defaults.max_wait_s,
    )


def _breaker(entry: Mapping[str, Any], where: str) -> BreakerPolicy | None:
    block = _block(entry, "breaker", where)
    if block is None:
        return None
    where = f"{where}.breaker"
    failures = _whole(block, "failures", f"{where}.failures")
    if failures == 0:
        raise ConfigError(f"{where}.failures", "must be at least 1")
    cooldown = _number(block, "cooldown_s", f"{where}.cooldown_s", positive=True)
    defaults = BreakerPolicy()
    return BreakerPolicy(
        failures=failures if failures is not None else defaults.failures,
        cooldown_s=cooldown if cooldown is not None else defaults.cooldown_s,
    )


def _mock_faults(entry: Mapping[str, Any], where: str) -> MockFaults | None:
    fail = _block(entry, "mock_fail", where)
    stall = _number(entry, "mock_stall_ms", f"{where}.mock_stall_ms")
    cut = _whole(entry, "mock_cut_after_chunks", f"{where}.mock_cut_after_chunks")
    if fail is None and stall is None and cut is None:
        return None
    status, every_n = None, 1
    if fail is not None:
        status = _whole(fail, "status", f"{where}.mock_fail.status")
        if status is None or not 400 <= status <= 599:
            raise ConfigError(f"{where}.mock_fail.status", "required, an HTTP error status")
        every_n = _whole(fail, "every_n", f"{where}.mock_fail.every_n") or 1
    return MockFaults(
        fail_status=status, fail_every_n=every_n, stall_ms=stall or 0.0, cut_after_chunks=cut
    )


def _block(entry: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}.{key}", "must be a mapping/object")
    return value


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
