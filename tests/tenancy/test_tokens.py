"""JWT accept/reject matrix, through the app and at the verifier."""

from __future__ import annotations

import base64
import hashlib
import time

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from proxy.errors import InvalidTokenError, TenantMismatchError
from proxy.tenancy.tokens import JWTVerifier, TokenAuthenticator
from tests.conftest import JWT_SECRET
from tests.helpers import raw_post_json

CHAT = "/users/pat/v1/chat/completions"


def _token(sub="pat", secret=JWT_SECRET, alg="HS256", **claims):
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 600, **claims}, secret, algorithm=alg)


async def test_token_matrix_through_the_gateway(make_mt_proxy, config_api):
    config_api.docs["pat"] = {"default": {"provider": "mock"}}
    client = await make_mt_proxy()
    good = _token()
    header, payload, signature = good.split(".")
    tampered_payload = (
        base64.urlsafe_b64encode(b'{"sub":"pat","exp":9999999999,"admin":true}')
        .rstrip(b"=")
        .decode()
    )
    none_alg = jwt.encode({"sub": "pat", "exp": int(time.time()) + 600}, None, algorithm="none")
    cases = {
        "valid bearer": ({"Authorization": f"Bearer {good}"}, 200, None),
        "valid x-api-key": ({"x-api-key": good}, 200, None),
        "missing": ({}, 401, "missing_credentials"),
        "wrong sub": (
            {"Authorization": f"Bearer {_token(sub='someone-else')}"},
            403,
            "tenant_mismatch",
        ),
        "expired": (
            {"Authorization": f"Bearer {_token(exp=int(time.time()) - 3600)}"},
            401,
            "invalid_token",
        ),
        "alg none": ({"Authorization": f"Bearer {none_alg}"}, 401, "invalid_token"),
        "wrong key": (
            {"Authorization": f"Bearer {_token(secret='another-secret-that-is-long-enough-1234')}"},
            401,
            "invalid_token",
        ),
        "tampered": (
            {"Authorization": f"Bearer {header}.{tampered_payload}.{signature}"},
            401,
            "invalid_token",
        ),
        "garbage": ({"Authorization": "Bearer not-a-token"}, 401, "invalid_token"),
        "no exp": (
            {
                "Authorization": f"Bearer {jwt.encode({'sub': 'pat'}, JWT_SECRET, algorithm='HS256')}"
            },
            401,
            "invalid_token",
        ),
    }
    for name, (headers, status, code) in cases.items():
        resp = await client.post(CHAT, json={"model": "m"}, headers=headers)
        assert resp.status == status, name
        if code:
            assert (await resp.json())["error"]["code"] == code, name
    assert config_api.calls == {"pat": 1}  # refused callers never trigger a config fetch


async def test_auth_mode_none_needs_no_token(make_mt_proxy, config_api):
    config_api.docs["quinn"] = {"default": {"provider": "mock"}}
    client = await make_mt_proxy(AUTH_MODE="none", AUTH_JWT_SECRET="")
    resp = await client.post("/users/quinn/v1/chat/completions", json={"model": "m"})
    assert resp.status == 200


def _pem(private) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize(
    ("make_key", "alg"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (lambda: ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
    ],
)
def test_public_key_algorithms_are_pinned(make_key, alg, tmp_path):
    private = make_key()
    pem_file = tmp_path / "key.pem"
    pem_file.write_text(_pem(private))
    for source in (_pem(private), str(pem_file)):  # the PEM itself, or a path to it
        verifier = JWTVerifier(secret=None, public_key=source, leeway=0)
        sub, exp = verifier.verify(_token(secret=private, alg=alg))
        assert sub == "pat" and exp > time.time()
        with pytest.raises(InvalidTokenError):  # HS256 signed with the public key's bytes
            verifier.verify(_token(secret=_pem(private)[:40], alg="HS256"))


def test_leeway_allows_small_clock_skew():
    verifier = JWTVerifier(secret=JWT_SECRET, public_key=None, leeway=30)
    assert verifier.verify(_token(exp=int(time.time()) - 10))[0] == "pat"
    with pytest.raises(InvalidTokenError):
        verifier.verify(_token(exp=int(time.time()) - 60))


def test_verified_tokens_are_cached_until_ttl_or_expiry():
    calls = []

    class Counting:
        def verify(self, token):
            calls.append(token)
            return "u1", now[0] + 100

    now = [1000.0]
    auth = TokenAuthenticator([Counting()], cache_ttl=30, clock=lambda: now[0])
    headers = {"Authorization": "Bearer tok"}
    auth.authenticate(headers, "u1")
    auth.authenticate(headers, "u1")
    assert len(calls) == 1
    now[0] += 31  # past AUTH_CACHE_TTL: verified again (a revocation would show here)
    auth.authenticate(headers, "u1")
    assert len(calls) == 2
    with pytest.raises(TenantMismatchError):
        auth.authenticate(headers, "u2")


def test_the_cache_holds_a_digest_of_the_token_never_the_token():
    class Accepting:
        def verify(self, token):
            return "u1", time.time() + 100

    auth = TokenAuthenticator([Accepting()], cache_ttl=30)
    auth.authenticate({"Authorization": "Bearer a.secret.token"}, "u1")
    assert list(auth._cache) == [hashlib.blake2b(b"a.secret.token").digest()]


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer \xff\xfe",
        b"Authorization: Bearer a.\xff.b",  # shaped like a JWT
        b"x-api-key: a.b.\xff",
    ],
)
async def test_tokens_that_are_not_utf8_are_an_invalid_token(make_mt_proxy, config_api, header):
    client = await make_mt_proxy()
    status, body = await raw_post_json(
        str(client.make_url("")), "/users/pat/v1/chat/completions", header + b"\r\n", b"{}"
    )
    assert status == 401
    assert orjson.loads(body)["error"]["code"] == "invalid_token"
    assert config_api.calls == {}
