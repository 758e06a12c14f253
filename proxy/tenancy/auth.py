"""Who is calling: client credentials -> accept or refuse.

Credentials come as `Authorization: Bearer <token>` or `x-api-key: <token>` (what
Anthropic SDKs send); both are accepted everywhere. Static mode's `auth.keys`
are held only as SHA-256 digests and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Mapping
from typing import Protocol

from multidict import istr

from proxy.errors import InvalidTokenError, MissingCredentialsError

# Header names as case-insensitive strings: a lookup does not case-fold them again.
_AUTHORIZATION = istr("Authorization")
_API_KEY = istr("x-api-key")


class Authenticator(Protocol):
    def authenticate(
        self, headers: Mapping[str, str], tenant_id: str | None
    ) -> Awaitable[None] | None:
        """Decide from what is at hand, without I/O (the hot path): None if the caller
        may act as `tenant_id`, an AuthenticationError (or PermissionDeniedError)
        raised if not; or, when a store lookup is needed (a proxy token this process
        has not seen lately), an awaitable that decides the same way."""


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The client's token, as text; a token that is not valid UTF-8 is refused (401).

    aiohttp decodes header bytes that are not UTF-8 to lone surrogates, which no
    key or JWT can contain and which nothing downstream can encode.
    """
    authorization = headers.get(_AUTHORIZATION)
    if authorization:
        # `Bearer <token>`: the scheme is what comes before the first space.
        if authorization.startswith("Bearer ") or authorization[:7].lower() == "bearer ":
            token = authorization[7:].strip()
            if token:
                return token if token.isascii() else _text(token)
    api_key = headers.get(_API_KEY)
    if api_key:
        api_key = api_key.strip()
        if api_key:
            return api_key if api_key.isascii() else _text(api_key)
    return None


def _text(token: str) -> str:
    if not token.isascii():
        try:
            token.encode()
        except UnicodeEncodeError:
            raise InvalidTokenError("Invalid credentials: not valid UTF-8.") from None
    return token


def parse_key_digest(key: str) -> bytes:
    """A configured key as its SHA-256 digest: `sha256:<hex>` or the key itself."""
    if key.startswith("sha256:"):
        hexpart = key[len("sha256:") :]
        if len(hexpart) != 64:
            raise ValueError("a sha256: key must have 64 hex digits")
        try:
            return bytes.fromhex(hexpart)
        except ValueError:
            raise ValueError("a sha256: key must have 64 hex digits") from None
    return hashlib.sha256(key.encode()).digest()


class OpenAccess:
    """No client authentication (static mode without `auth.keys`, or AUTH_MODE=none)."""

    def authenticate(self, headers: Mapping[str, str], tenant_id: str | None) -> None:
        return None


class StaticKeyVerifier:
    def __init__(self, digests: tuple[bytes, ...]) -> None:
        self._digests = digests

    def authenticate(self, headers: Mapping[str, str], tenant_id: str | None) -> None:
        token = presented_token(headers)
        if token is None:
            raise MissingCredentialsError(
                "Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'."
            )
        if not self.is_valid(token):
            raise InvalidTokenError("Invalid API key.")

    def is_valid(self, token: str) -> bool:
        digest = hashlib.sha256(token.encode()).digest()
        found = False
        for known in self._digests:  # every digest is compared: no early exit
            found |= hmac.compare_digest(digest, known)
        return found
