"""Multi-tenant client authentication: a bearer token names the user it acts for.

`TokenAuthenticator` keys everything by a digest of the presented token, never the
token itself, so the hot path is one hash and one dict lookup, never a signature
check or a query:

- a proxy token (`tp-...`, built-in-store mode) is looked up in `ProxyTokens` by its
  SHA-256 (what the store knows it by); on a miss `authenticate` returns the
  awaitable store check (single-flight per digest);
- any other token goes to the JWT verifiers, whose answer is cached for at most
  AUTH_CACHE_TTL and never past the token's expiry, keyed by the token's BLAKE2b-512:
  a cryptographic hash (collision and second-preimage resistant far beyond what a
  forged token could try) that costs a third of SHA-256 here. The key never leaves
  the process, so it needs no secret.

The token's subject must equal the path's user id (compared in constant time), else
403 `tenant_mismatch`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from proxy.errors import InvalidTokenError, MissingCredentialsError, TenantMismatchError
from proxy.tenancy.auth import presented_token
from proxy.tenancy.proxy_tokens import TOKEN_PREFIX, ProxyTokens

CACHE_SIZE = 100_000
_sha256 = hashlib.sha256
_blake2b = hashlib.blake2b
_compare_digest = hmac.compare_digest
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class TokenVerifier(Protocol):
    def verify(self, token: str) -> tuple[str, float] | None:
        """(subject, expiry as Unix time) for a token this verifier owns; None if not its
        kind; raises InvalidTokenError for one of its kind that does not verify."""


class JWTVerifier:
    """HS256 with AUTH_JWT_SECRET and/or RS256/ES256/EdDSA with AUTH_JWT_PUBLIC_KEY.

    The algorithm is pinned per key (a token's `alg` only picks which configured key
    to try, never how to verify it): no `none`, no HS/RS confusion. `exp` and `sub`
    are required; `leeway` allows for clock skew.
    """

    def __init__(self, *, secret: str | None, public_key: str | None, leeway: float) -> None:
        self._keys: dict[str, str | PublicKey] = {}
        if secret:
            self._keys["HS256"] = secret
        if public_key:
            alg, key = load_public_key(public_key)
            self._keys[alg] = key
        if not self._keys:
            raise ValueError("a JWT verifier needs a secret or a public key")
        self._leeway = leeway

    def verify(self, token: str) -> tuple[str, float] | None:
        if token.count(".") != 2:
            return None
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise InvalidTokenError("Invalid token.") from None
        key = self._keys.get(alg) if isinstance(alg, str) else None
        if key is None or not isinstance(alg, str):
            raise InvalidTokenError("Invalid token.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                leeway=self._leeway,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("The token has expired.") from None
        except jwt.PyJWTError:
            raise InvalidTokenError("Invalid token.") from None
        sub, exp = claims.get("sub"), claims.get("exp")
        if not isinstance(sub, str) or not isinstance(exp, int | float):
            raise InvalidTokenError("Invalid token.")
        return sub, float(exp) + self._leeway


def load_public_key(value: str) -> tuple[str, PublicKey]:
    """A PEM public key (the value itself, or a path to a file holding it) and its algorithm."""
    pem = value if "-----BEGIN" in value else Path(value).read_text(encoding="utf-8")
    key = load_pem_public_key(pem.encode())
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256", key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256", key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA", key
    raise ValueError("AUTH_JWT_PUBLIC_KEY must be an RSA, P-256 or Ed25519 public key")


class TokenAuthenticator:
    def __init__(
        self,
        verifiers: Sequence[TokenVerifier],
        *,
        cache_ttl: float,
        proxy_tokens: ProxyTokens | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifiers = tuple(verifiers)
        self._cache_ttl = cache_ttl
        self._proxy_tokens = proxy_tokens
        self._clock = clock
        self._cache: dict[bytes, tuple[bytes, float]] = {}

    def authenticate(
        self, headers: Mapping[str, str], tenant_id: str | None
    ) -> Awaitable[None] | None:
        token = presented_token(headers)
        if token is None:
            raise MissingCredentialsError(
                "Missing token: send 'Authorization: Bearer <token>' or 'x-api-key: <token>'."
            )
        proxy_tokens = self._proxy_tokens
        if proxy_tokens is not None and token.startswith(TOKEN_PREFIX):
            digest = _sha256(token.encode()).digest()  # the store knows tokens by it
            grant = proxy_tokens.cached(digest, self._clock())
            if grant is None:
                return self._check_proxy_token(proxy_tokens, digest, tenant_id)
            _same_tenant(grant.tenant, tenant_id)
            return None
        key = _blake2b(token.encode()).digest()
        entry = self._cache.get(key)
        now = self._clock()
        if entry is None or entry[1] <= now:
            entry = self._verified(key, token, now)
        # _same_tenant, inline on the hot path
        if not _compare_digest(entry[0], (tenant_id or "").encode()):
            raise TenantMismatchError("The token does not belong to this user.")
        return None

    def _verified(self, key: bytes, token: str, now: float) -> tuple[bytes, float]:
        """Verify a token not in the cache (or due again) and cache the answer."""
        subject, expires = self._verify(token)
        entry = (subject.encode(), min(expires, now + self._cache_ttl))
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = entry
        return entry

    async def _check_proxy_token(
        self, proxy_tokens: ProxyTokens, digest: bytes, tenant_id: str | None
    ) -> None:
        grant = await proxy_tokens.check(digest)
        _same_tenant(grant.tenant, tenant_id)

    def _verify(self, token: str) -> tuple[str, float]:
        for verifier in self._verifiers:
            found = verifier.verify(token)
            if found is not None:
                return found
        raise InvalidTokenError("Invalid token.")


def _same_tenant(subject: bytes, tenant_id: str | None) -> None:
    if not hmac.compare_digest(subject, (tenant_id or "").encode()):
        raise TenantMismatchError("The token does not belong to this user.")
