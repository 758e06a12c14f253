"""Sealing secrets: rotation keeps old values readable; owners cannot be swapped."""

from __future__ import annotations

import os

import pytest

from proxy.keyring import KeyRing, SealedValueError, UnknownKeyError


def test_seal_open_rotate_and_bind_to_owner():
    old, new = os.urandom(32), os.urandom(32)
    sealed = KeyRing((("old", old),)).seal(b"secret doc", "alice")
    assert sealed.startswith(b"enc:v1:old:") and b"secret" not in sealed
    rotated = KeyRing((("new", new), ("old", old)))
    assert rotated.open(sealed, "alice") == b"secret doc"
    assert rotated.seal(b"x", "alice").startswith(b"enc:v1:new:")
    with pytest.raises(SealedValueError):
        rotated.open(sealed, "bob")  # sealed for alice
    with pytest.raises(UnknownKeyError) as info:
        KeyRing((("new", new),)).open(sealed, "alice")
    assert info.value.key_id == "old"
