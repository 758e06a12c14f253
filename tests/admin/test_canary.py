"""A canary key written through the API is in no response and no log line, in any form.

(The store's own test searches every column and file: tests/store/test_sealing.py.)
The one exception is by contract: `GET /users/{id}/config` is the Config API and
returns keys in plain text (SPEC 7.1), so it is asked, checked, and left out.
"""

from __future__ import annotations

import base64
import io
import logging

from aiohttp import web

from proxy.telemetry.logs import JSONFormatter
from tests.admin.conftest import ADMIN
from tests.admin.test_tokens import CHAT, as_bearer

CANARY = "sk-fake.canary-5e2a7d9c1b3f4e6a8c0d2f4b6a8c0e2d"


def forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    b64 = [base64.b64encode(raw), base64.urlsafe_b64encode(raw)]
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), *[b.rstrip(b"=") for b in b64]]


async def test_a_canary_key_never_leaves_in_a_response_or_a_log(make_store_proxy, upstream, capfd):
    async def echo_key(request: web.Request) -> web.Response:  # a provider that echoes the key
        return web.json_response({"error": request.headers["Authorization"]}, status=401)

    upstream.handler = echo_key
    log_stream = io.StringIO()
    handler = logging.StreamHandler(log_stream)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        gateway = await make_store_proxy(PROXY_REQUEST_LOG="1", PROXY_LOG_LEVEL="DEBUG")
        route = {"model_name": "gpt-4o-mini", "api_base": upstream.url, "api_key": CANARY}
        answers: list[bytes] = []

        async def call(method: str, path: str, **kw) -> bytes:
            resp = await gateway.request(method, path, **kw)
            body = await resp.read()
            answers.append(body + str(dict(resp.headers)).encode())
            return body

        await call(
            "POST", "/admin/tenants", json={"tenant_id": "acme", "models": [route]}, headers=ADMIN
        )
        await call(
            "POST", "/admin/tenants", json={"tenant_id": "acme", "models": [route]}, headers=ADMIN
        )
        await call("GET", "/admin/tenants/acme", headers=ADMIN)
        await call("GET", "/admin/tenants", headers=ADMIN)
        shown = {"models": [{**route, "api_key": "sk-...0e2d"}], "limits": {"rpm": 100}}
        await call("PATCH", "/admin/tenants/acme", json=shown, headers=ADMIN)
        bad = {"models": [{**route, "timeout_s": -1}]}
        await call("PATCH", "/admin/tenants/acme", json=bad, headers=ADMIN)
        await call(
            "POST", "/admin/tenants", json={"tenant_id": "x y", "models": [route]}, headers=ADMIN
        )
        minted = await gateway.post("/admin/tenants/acme/tokens", json={}, headers=ADMIN)
        token = (await minted.json())["token"]
        await call("GET", "/admin/tenants/acme/tokens", headers=ADMIN)
        await call("POST", "/users/acme/v1/chat/completions", json=CHAT, headers=as_bearer(token))
        await call("GET", "/users/acme/v1/models", headers=as_bearer(token))
        await call("DELETE", "/admin/cache/users/acme", headers=ADMIN)
        await call("DELETE", "/admin/tenants/acme", headers=ADMIN)
        config = await gateway.get("/users/ghost/config", headers=ADMIN)
        answers.append(await config.read())
        await gateway.close()  # flush the request log
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    out, err = capfd.readouterr()  # the request log writes to stderr itself
    logged = (log_stream.getvalue() + out + err).encode()
    assert b'"logger":"proxy.request"' in logged  # the request log was on, and captured
    assert upstream.seen[-1].headers["authorization"] == "Bearer " + CANARY  # the key was used
    for form in forms(CANARY):
        for answer in answers:
            assert form not in answer
        assert form not in logged
