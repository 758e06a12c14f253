"""Process settings, read once from the environment.

`Settings.from_env()` is the only reader of `os.environ` in the package (the CLI
may set variables before it runs). Every value is cast and checked here, so a bad
variable stops the start with one line naming it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

MIB = 1024 * 1024


class SettingsError(ValueError):
    """A variable has a value we cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    mode: str = "static"
    config_path: str = "./proxy.yaml"
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    graceful_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    max_requests: int = 0
    max_requests_jitter: int = 0
    max_body_bytes: int = 32 * MIB
    cors_allowed_origins: tuple[str, ...] = ()
    upstream_max_connections: int = 1000
    upstream_connect_timeout: float = 10.0
    request_log: bool = True
    log_level: str = "INFO"
    metrics_flush_interval: float = 1.0
    prometheus_multiproc_dir: str | None = None
    # The environment as read at start, for `${VAR}` expansion in the static YAML.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        r = _Reader(env)
        mode = r.choice("PROXY_MODE", ("static",), default="static")
        config_path = env.get("PROXY_CONFIG") or env.get("VIBEKIT_CONFIG") or "./proxy.yaml"
        return cls(
            mode=mode,
            config_path=config_path,
            host=env.get("PROXY_HOST") or "0.0.0.0",
            port=r.integer("PROXY_PORT", 8080, low=0, high=65535),
            workers=r.integer("PROXY_WORKERS", os.cpu_count() or 1, low=1),
            graceful_timeout=r.seconds("PROXY_GRACEFUL_TIMEOUT", 30.0),
            keepalive_timeout=r.seconds("PROXY_KEEPALIVE_TIMEOUT", 75.0),
            max_requests=r.integer("PROXY_MAX_REQUESTS", 0),
            max_requests_jitter=r.integer("PROXY_MAX_REQUESTS_JITTER", 0),
            max_body_bytes=r.integer("PROXY_MAX_BODY_BYTES", 32 * MIB, low=1),
            cors_allowed_origins=r.csv("CORS_ALLOWED_ORIGINS"),
            upstream_max_connections=r.integer("UPSTREAM_MAX_CONNECTIONS", 1000, low=1),
            upstream_connect_timeout=r.seconds("UPSTREAM_CONNECT_TIMEOUT", 10.0),
            request_log=r.flag("PROXY_REQUEST_LOG", True),
            log_level=r.choice(
                "PROXY_LOG_LEVEL",
                ("DEBUG", "INFO", "WARNING", "ERROR"),
                default="INFO",
                upper=True,
            ),
            metrics_flush_interval=r.seconds("PROXY_METRICS_FLUSH_INTERVAL", 1.0),
            prometheus_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            environ=MappingProxyType(dict(env)),
        )


class _Reader:
    """Casts one variable at a time; errors name the variable and the bad value."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        return value.strip() if value is not None and value.strip() != "" else None

    def integer(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise SettingsError(f"{name}={raw!r} must be {bounds}")
        return value

    def seconds(self, name: str, default: float) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
        if not value > 0 or value == float("inf"):
            raise SettingsError(f"{name}={raw!r} must be a positive number of seconds")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}={raw!r} must be 1/0, true/false, yes/no or on/off")

    def choice(
        self, name: str, allowed: tuple[str, ...], *, default: str, upper: bool = False
    ) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        value = raw.upper() if upper else raw.lower()
        if value not in allowed:
            raise SettingsError(f"{name}={raw!r} must be one of: {', '.join(allowed)}")
        return value

    def csv(self, name: str) -> tuple[str, ...]:
        raw = self._raw(name)
        if raw is None:
            return ()
        return tuple(part.strip() for part in raw.split(",") if part.strip())
