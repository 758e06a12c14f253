"""The deployment mode (SPEC section 2): detected from the environment, or forced.

`static` (the default) serves one tenant from a YAML file; `multi_tenant` needs
CONFIG_API_URL and REDIS_URL. PROXY_MODE may force either; a forced mode whose
requirements are missing stops the start naming the missing variable.
"""

from __future__ import annotations

from proxy.settings.reader import EnvReader, SettingsError

STATIC, MULTI_TENANT = "static", "multi_tenant"


def detect_mode(r: EnvReader) -> str:
    forced = r.choice("PROXY_MODE", (STATIC, MULTI_TENANT), default="")
    redis, api, database = r.raw("REDIS_URL"), r.raw("CONFIG_API_URL"), r.raw("DATABASE_URL")
    if forced == STATIC:
        return STATIC
    if database and not api:
        raise SettingsError(
            "DATABASE_URL is set: the built-in tenant store is not available in this "
            "version; use CONFIG_API_URL with REDIS_URL, or unset DATABASE_URL"
        )
    if forced == MULTI_TENANT or api:  # REDIS_URL alone is static mode with Redis
        if not api:
            raise SettingsError(
                "multi-tenant mode needs CONFIG_API_URL (the Config API's base URL)"
            )
        if not redis:
            raise SettingsError("multi-tenant mode needs REDIS_URL (the shared config cache)")
        return MULTI_TENANT
    return STATIC
