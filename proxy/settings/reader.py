"""Reading one environment variable at a time: cast, checked, named in every error.

`EnvReader` wraps the mapping `Settings.from_env` was given; the sections read their
variables through it and nothing else sees the environment. An error names the
variable, and echoes its value only where the value cannot be a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A variable has a value we cannot use; the message names it."""


class EnvReader:
    """Casts one variable at a time; errors name the variable and the bad value."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def snapshot(self) -> Mapping[str, str]:
        """The whole environment as read now, read-only (for `${VAR}` in the static YAML)."""
        return MappingProxyType(dict(self._env))

    def verbatim(self, name: str) -> str | None:
        """The value as given (not stripped); None when unset or empty."""
        return self._env.get(name) or None

    def raw(self, name: str) -> str | None:
        """The value, stripped; None when unset or blank."""
        value = self._env.get(name)
        return value.strip() if value is not None and value.strip() != "" else None

    def integer(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        raw = self.raw(name)
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
        raw = self.raw(name)
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
        raw = self.raw(name)
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
        raw = self.raw(name)
        if raw is None:
            return default
        value = raw.upper() if upper else raw.lower()
        if value not in allowed:
            raise SettingsError(f"{name}={raw!r} must be one of: {', '.join(allowed)}")
        return value

    def http_url(self, name: str) -> str | None:
        """An http(s) URL with a host; the value is not echoed (it may hold a token)."""
        raw = self.raw(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"{name} must be an http:// or https:// URL with a host")
        return raw

    def csv(self, name: str) -> tuple[str, ...]:
        raw = self.raw(name)
        if raw is None:
            return ()
        return tuple(part.strip() for part in raw.split(",") if part.strip())
