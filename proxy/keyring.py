"""AES-256-GCM sealing of tenant secrets at rest (Redis now, the tenant store later).

A sealed value is `enc:v1:<key id>:<base64 nonce+ciphertext>`. The first key of the
ring seals; every key opens, so a ring that keeps an old key keeps old values
readable during a rotation. The associated data binds a value to its owner (the
user id), so a sealed document cannot be replayed under another user's key.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = b"enc:v1:"


class UnknownKeyError(Exception):
    """The value was sealed under a key id this ring does not hold."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"sealed under key id {key_id!r}, which is not in the key ring")
        self.key_id = key_id


class SealedValueError(Exception):
    """The value is damaged or was sealed for another owner."""


class KeyRing:
    def __init__(self, keys: tuple[tuple[str, bytes], ...]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self._sealing_id, sealing_key = keys[0]
        self._sealer = AESGCM(sealing_key)
        self._openers = {kid: AESGCM(key) for kid, key in keys}

    @property
    def sealing_key_id(self) -> str:
        """The id of the first key, which seals every new value."""
        return self._sealing_id

    @staticmethod
    def is_sealed(value: bytes) -> bool:
        return value.startswith(PREFIX)

    @staticmethod
    def key_id_of(value: bytes) -> str | None:
        """The key id a sealed value names, or None when it is not a sealed value."""
        if not value.startswith(PREFIX):
            return None
        kid, sep, _ = value[len(PREFIX) :].partition(b":")
        return kid.decode(errors="replace") if sep else None

    def seal(self, plaintext: bytes, owner: str) -> bytes:
        nonce = os.urandom(12)
        sealed = self._sealer.encrypt(nonce, plaintext, owner.encode())
        return PREFIX + self._sealing_id.encode() + b":" + base64.b64encode(nonce + sealed)

    def open(self, value: bytes, owner: str) -> bytes:
        kid, sep, body = value[len(PREFIX) :].partition(b":")
        if not sep:
            raise SealedValueError("not a sealed value")
        opener = self._openers.get(kid.decode(errors="replace"))
        if opener is None:
            raise UnknownKeyError(kid.decode(errors="replace"))
        try:
            raw = base64.b64decode(body, validate=True)
            return opener.decrypt(raw[:12], raw[12:], owner.encode())
        except (InvalidTag, ValueError) as e:
            raise SealedValueError("the value does not open with its key") from e
