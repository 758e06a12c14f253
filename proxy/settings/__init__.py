"""Process settings, read once from the environment, in sections.

`Settings.from_env()` is the only reader of `os.environ` in the package (the CLI may
set variables before it runs). A `Settings` is the deployment mode plus one frozen
section per concern (proxy.settings.sections): `server`, `upstream`, `redis`,
`tenancy`, `auth`, `telemetry`, `store`, `money`. Components take the section they
need. Every value is cast and checked as it is read (proxy.settings.reader), so a bad variable stops
the start with one line naming it. Each field documents its variables in its metadata
(proxy.settings.variables); proxy.settings.reference renders docs/configuration.md
from them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from proxy.redaction import display_url
from proxy.settings.mode import MULTI_TENANT, STATIC, detect_mode
from proxy.settings.reader import EnvReader, SettingsError
from proxy.settings.sections import (
    MIB,
    AuthSettings,
    MoneySettings,
    RedisSettings,
    ServerSettings,
    StoreSettings,
    TelemetrySettings,
    TenancySettings,
    UpstreamSettings,
)
from proxy.settings.variables import env

__all__ = [
    "MIB",
    "MULTI_TENANT",
    "STATIC",
    "AuthSettings",
    "MoneySettings",
    "RedisSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "StoreSettings",
    "TelemetrySettings",
    "TenancySettings",
    "UpstreamSettings",
]


@dataclass(frozen=True, slots=True)
class Settings:
    mode: str = field(
        default=STATIC,
        metadata=env(
            "PROXY_MODE",
            "Forces `static` or `multi_tenant`; a forced mode whose requirements are "
            "missing stops the start naming the missing variable.",
            default="[detected](deployment.md#modes)",
            kind="`static`, `multi_tenant`",
        ),
    )
    server: ServerSettings = field(default_factory=ServerSettings)
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    tenancy: TenancySettings = field(default_factory=TenancySettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    money: MoneySettings = field(default_factory=MoneySettings)

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
            store=StoreSettings.read(r),
            money=MoneySettings.read(r),
        )
        _check_multi_tenant(settings)
        return settings

    @classmethod
    def for_store_commands(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """What `db migrate` and `keys rotate` need (DATABASE_URL, STORE_TIMEOUT, the
        key ring), without the serving mode's checks."""
        r = EnvReader(os.environ if environ is None else environ)
        if r.raw("DATABASE_URL") is None:
            raise SettingsError("DATABASE_URL is not set (sqlite:///file.db or mysql://...)")
        return cls(store=StoreSettings.read(r), tenancy=TenancySettings.read_keys(r))

    @property
    def is_multi_tenant(self) -> bool:
        return self.mode == MULTI_TENANT

    @property
    def uses_store(self) -> bool:
        """Built-in-store mode: tenants and proxy tokens come from DATABASE_URL."""
        return self.mode == MULTI_TENANT and self.tenancy.config_api_url is None


def _check_multi_tenant(s: Settings) -> None:
    api_url = s.tenancy.config_api_url
    if s.tenancy.config_api_key and api_url and _has_credentials(api_url):
        raise SettingsError(
            "CONFIG_API_URL holds credentials (user:pass@, sent as HTTP Basic auth) and "
            "CONFIG_API_KEY is set (sent as Bearer): only one Authorization can be sent; "
            "use one of them"
        )
    if not s.is_multi_tenant or s.uses_store:  # the store mints proxy tokens: enough to start
        return
    if s.auth.mode != "none" and not (s.auth.jwt_secret or s.auth.jwt_public_key):
        raise SettingsError(
            "multi-tenant mode with a Config API needs client authentication: set "
            "AUTH_JWT_SECRET (HS256) or AUTH_JWT_PUBLIC_KEY (RS256/ES256/EdDSA), or "
            "AUTH_MODE=none behind a trusted network"
        )


def _has_credentials(url: str) -> bool:
    return display_url(url) != url
