"""The deployment mode (SPEC section 2): detected from the environment, or forced.

`static` (the default) serves one tenant from a YAML file. `multi_tenant` has two
config sources: the external Config API (CONFIG_API_URL, which needs REDIS_URL) or
the built-in tenant store (DATABASE_URL without CONFIG_API_URL; Redis optional).
PROXY_MODE may force either mode; a forced mode whose requirements are missing stops
the start naming the missing variable.
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
        return MULTI_TENANT  # the built-in store: REDIS_URL optional
    if forced == MULTI_TENANT or api:  # REDIS_URL alone is static mode with Redis
        if not api:
            raise SettingsError(
                "multi-tenant mode needs CONFIG_API_URL (the Config API's base URL) or "
                "DATABASE_URL (the built-in tenant store)"
            )
        if not redis:
            raise SettingsError("multi-tenant mode needs REDIS_URL (the shared config cache)")
        return MULTI_TENANT
    return STATIC
