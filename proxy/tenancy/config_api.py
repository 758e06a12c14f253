"""The external Config API: `GET {CONFIG_API_URL}/users/{user_id}/config` (SPEC section 4).

404 means the user has no config; other statuses, timeouts and refused connections
mean the API is unavailable. Calls go through the worker's control-plane session
(operator-configured endpoints, not the SSRF-guarded tenant upstream session).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson

from proxy.errors import ConfigNotFoundError, ConfigUnavailableError
from proxy.throttled_log import RateLimitedLog

log = logging.getLogger("proxy.config_api")
MAX_DOCUMENT_BYTES = 1 << 20


class ConfigDocumentError(Exception):
    """The API answered 200 with something that is not a JSON object."""


class ConfigAPIClient:
    name = "config_api"  # as a readiness check

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, *, api_key: str | None, timeout: float
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._warn = RateLimitedLog(log)

    async def fetch(self, user_id: str) -> dict[str, Any]:
        url = f"{self._base}/users/{user_id}/config"
        try:
            async with self._session.get(
                url, headers=self._headers, timeout=self._timeout, allow_redirects=False
            ) as resp:
                if resp.status == 404:
                    raise ConfigNotFoundError("No configuration exists for this user.")
                if resp.status != 200:
                    self._warn.warning("status", "config api error", status=resp.status)
                    raise ConfigUnavailableError("The configuration service is unavailable.")
                body = await resp.content.read(MAX_DOCUMENT_BYTES + 1)
        except (TimeoutError, aiohttp.ClientError) as e:
            self._warn.warning("transport", "config api unreachable", error=repr(e))
            raise ConfigUnavailableError("The configuration service is unavailable.") from None
        if len(body) > MAX_DOCUMENT_BYTES:
            raise ConfigDocumentError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise ConfigDocumentError(f"not JSON: {e}") from None
        if not isinstance(doc, dict):
            raise ConfigDocumentError("not a JSON object")
        return doc

    async def check(self) -> str | None:
        """Readiness: the API answers HTTP at all (any status)."""
        try:
            async with self._session.get(
                self._base + "/",
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
            ):
                return None
        except (TimeoutError, aiohttp.ClientError):
            return "unreachable"
