"""Process settings, read once from the environment, in sections.

`Settings.from_env()` is the only reader of `os.environ` in the package (the CLI may
set variables before it runs). A `Settings` is the deployment mode plus one frozen
section per concern (proxy.settings.sections): `server`, `upstream`, `redis`,
`tenancy`, `auth`, `telemetry`. Components take the section they need. Every value
is cast and checked as it is read (proxy.settings.reader), so a bad variable stops
the start with one line naming it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from proxy.settings.mode import MULTI_TENANT, STATIC, detect_mode
from proxy.settings.reader import EnvReader, SettingsError
from proxy.settings.sections import (
    MIB,
    AuthSettings,
    RedisSettings,
    ServerSettings,
    TelemetrySettings,
    TenancySettings,
    UpstreamSettings,
)

__all__ = [
    "MIB",
    "MULTI_TENANT",
    "STATIC",
    "AuthSettings",
    "RedisSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "TelemetrySettings",
    "TenancySettings",
    "UpstreamSettings",
]


@dataclass(frozen=True, slots=True)
class Settings:
    mode: str = STATIC
    server: ServerSettings = field(default_factory=ServerSettings)
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    tenancy: TenancySettings = field(default_factory=TenancySettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        r = EnvReader(os.environ if environ is None else environ)
        settings = cls(
            mode=detect_mode(r),
            server=ServerSettings.read(r),
            upstream=UpstreamSettings.read(r),
            redis=RedisSettings.read(r),
            tenancy=TenancySettings.read(r),
            auth=AuthSettings.read(r),
            telemetry=TelemetrySettings.read(r),
        )
        _check_multi_tenant(settings)
        return settings

    @property
    def is_multi_tenant(self) -> bool:
        return self.mode == MULTI_TENANT


def _check_multi_tenant(s: Settings) -> None:
    if not s.is_multi_tenant:
        return
    if s.auth.mode != "none" and not (s.auth.jwt_secret or s.auth.jwt_public_key):
        raise SettingsError(
            "multi-tenant mode needs client authentication: set AUTH_JWT_SECRET (HS256) or "
            "AUTH_JWT_PUBLIC_KEY (RS256/ES256/EdDSA), or AUTH_MODE=none behind a trusted network"
        )
