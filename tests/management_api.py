"""The management API (SPEC 7, 7.1, 8.1) for tests: a scripted stand-in, and the real
gateway in built-in-store mode.

`StandIn` is a small aiohttp app on loopback that answers every path of
docs/openapi/management.yaml with the shapes SPEC 7.1 gives (it validates bodies with
the document's own schemas, so what it stores always has the documented shape).
`LiveGateway` runs `tenant-proxy serve --dev` with DATABASE_URL (SQLite in a temp
dir), PROXY_ADMIN_KEY and PROXY_ENCRYPTION_KEY. Both offer `url`, `admin_key` and
`add_usage()`, so a test written against one runs against the other.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiohttp import web
from jsonschema import Draft202012Validator

from proxy.redaction import mask_key
from tests.helpers import free_port

ROOT = Path(__file__).parents[1]
DOCUMENT_PATH = ROOT / "docs" / "openapi" / "management.yaml"
ADMIN_KEY = "admin-key-for-tests-0001"
ENCRYPTION_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 test bytes
TENANT_ID = Draft202012Validator({"pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"})
MAX_TTL = 30 * 24 * 3600


def load_document() -> dict[str, Any]:
    return yaml.safe_load(DOCUMENT_PATH.read_text())


def _validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    return Draft202012Validator({**document, "$ref": f"#/components/schemas/{name}"})


class APIError(Exception):
    def __init__(
        self, status: int, error_type: str, code: str, message: str, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error_type, self.code, self.param = status, error_type, code, param

    def response(self) -> web.Response:
        body = {"message": str(self), "type": self.error_type, "code": self.code}
        return _json({"error": {**body, "param": self.param}}, self.status)


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(doc), status=status, content_type="application/json")


def _bad(message: str, code: str = "invalid_request", param: str | None = None) -> APIError:
    return APIError(400, "invalid_request_error", code, message, param)


def _not_found(message: str, code: str = "not_found") -> APIError:
    return APIError(404, "not_found_error", code, message)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass
class UsageEntry:
    tenant_id: str
    day: str
    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: float | None


@dataclass
class Tenant:
    document: dict[str, Any]  # keys in plain text
    created_at: float
    updated_at: float


@dataclass
class Token:
    token_id: str
    tenant_id: str
    name: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None


@dataclass
class StandIn:
    """The management API's shapes, in memory. `clock` is injectable."""

    admin_key: str = ADMIN_KEY
    clock: Callable[[], float] = time.time
    url: str = ""
    tenants: dict[str, Tenant] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    usage: list[UsageEntry] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)  # every id that ever had a tenant
    invalidated: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path_qs)
    max_page: int = 1000  # scripted: answer fewer items than asked, as an API may

    def __post_init__(self) -> None:
        document = load_document()
        self._create = _validator(document, "TenantCreate")
        self._tenant_document = _validator(document, "TenantDocument")
        self._patch = _validator(document, "TenantPatch")
        self._mint = _validator(document, "TokenMint")

    def add_usage(
        self, tenant_id: str, model: str, requests: int, *, day: str | None = None
    ) -> None:
        """`requests` priced requests of 10 input and 5 output tokens each."""
        day = day or datetime.fromtimestamp(self.clock(), UTC).date().isoformat()
        self.usage.append(
            UsageEntry(tenant_id, day, model, requests, 10 * requests, 5 * requests, 0, 0.001)
        )

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        r = app.router
        r.add_post("/admin/tenants", self.create_tenant)
        r.add_get("/admin/tenants", self.list_tenants)
        r.add_get("/admin/tenants/{tenant_id}", self.get_tenant)
        r.add_patch("/admin/tenants/{tenant_id}", self.update_tenant)
        r.add_delete("/admin/tenants/{tenant_id}", self.delete_tenant)
        r.add_post("/admin/tenants/{tenant_id}/tokens", self.mint_token)
        r.add_get("/admin/tenants/{tenant_id}/tokens", self.list_tokens)
        r.add_delete("/admin/tenants/{tenant_id}/tokens/{token_id}", self.revoke_token)
        r.add_get("/admin/tenants/{tenant_id}/usage", self.get_usage)
        r.add_delete("/admin/cache/users/{user_id}", self.invalidate)
        r.add_get("/users/{user_id}/config", self.user_config)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        try:
            if request.headers.get("Authorization", "") != f"Bearer {self.admin_key}":
                raise APIError(401, "authentication_error", "invalid_token", "Invalid admin key.")
            for name in ("tenant_id", "user_id"):
                value = request.match_info.get(name)
                if value is not None and not TENANT_ID.is_valid(value):
                    raise _bad(f"Invalid {name}.", "invalid_user_id")
            return await handler(request)
        except APIError as e:
            return e.response()
        except web.HTTPNotFound:
            return _not_found("Unknown path.").response()
        except web.HTTPMethodNotAllowed:
            return APIError(405, "invalid_request_error", "invalid_request", "No.").response()

    # --- tenants

    def _shown(self, tenant_id: str) -> dict[str, Any]:
        tenant = self.tenants[tenant_id]
        document = orjson.loads(orjson.dumps(tenant.document))
        for route in [*document.get("models", []), document.get("default") or {}]:
            if isinstance(route.get("api_key"), str):
                route["api_key"] = mask_key(route["api_key"])
        return {
            "tenant_id": tenant_id,
            **document,
            "created_at": _iso(tenant.created_at),
            "updated_at": _iso(tenant.updated_at),
        }

    def _tenant(self, request: web.Request) -> str:
        tenant_id = request.match_info["tenant_id"]
        if tenant_id not in self.tenants:
            raise _not_found(f"Unknown tenant {tenant_id!r}.")
        return tenant_id

    @staticmethod
    async def _body(request: web.Request, *, optional: bool = False) -> Any:
        raw = await request.read()
        if optional and not raw.strip():
            return {}
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _bad("The body is not JSON.", "invalid_json") from None

    @staticmethod
    def _check(validator: Draft202012Validator, doc: Any) -> None:
        error = next(iter(sorted(validator.iter_errors(doc), key=lambda e: e.path)), None)
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path) or None
            raise _bad(f"{where or 'body'}: {error.message}", "invalid_config", where)

    async def create_tenant(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self._check(self._create, body)
        tenant_id = body.pop("tenant_id")
        if tenant_id in self.tenants:
            raise APIError(409, "invalid_request_error", "tenant_exists", f"{tenant_id!r} exists.")
        now = self.clock()
        self.tenants[tenant_id] = Tenant(body, now, now)
        self.known.add(tenant_id)
        return _json(self._shown(tenant_id), 201)

    async def list_tenants(self, request: web.Request) -> web.Response:
        limit, after = _page_args(request)
        limit = min(limit, self.max_page)
        ids = sorted(t for t in self.tenants if after is None or t > after)
        page = ids[:limit]
        cursor = _cursor(page[-1]) if len(ids) > limit else None
        return _json({"data": [self._shown(t) for t in page], "next_cursor": cursor})

    async def get_tenant(self, request: web.Request) -> web.Response:
        return _json(self._shown(self._tenant(request)))

    async def update_tenant(self, request: web.Request) -> web.Response:
        tenant_id = self._tenant(request)
        patch = await self._body(request)
        self._check(self._patch, patch)
        stored = self.tenants[tenant_id]
        merged = _merge(stored.document, _keep_masked_keys(stored.document, patch))
        merged.pop("tenant_id", None)
        self._check(self._tenant_document, merged)
        stored.document, stored.updated_at = merged, self.clock()
        return _json(self._shown(tenant_id))

    async def delete_tenant(self, request: web.Request) -> web.Response:
        tenant_id = self._tenant(request)
        del self.tenants[tenant_id]
        for token in self.tokens.values():
            if token.tenant_id == tenant_id and token.revoked_at is None:
                token.revoked_at = self.clock()
        return web.Response(status=204)

    # --- tokens

    async def mint_token(self, request: web.Request) -> web.Response:
        tenant_id = self._tenant(request)
        body = await self._body(request, optional=True)
        if not isinstance(body, dict) or not self._mint.is_valid(body):
            raise _bad(f"ttl_s is 1..{MAX_TTL} seconds; name is at most 255 characters.")
        now = self.clock()
        token = Token(
            "tok_" + secrets.token_hex(8),
            tenant_id,
            body.get("name", ""),
            now,
            now + body.get("ttl_s", 3600),
        )
        self.tokens[token.token_id] = token
        secret = "tp-" + secrets.token_urlsafe(24)
        return _json(
            {
                "token_id": token.token_id,
                "token": secret,
                "tenant_id": tenant_id,
                "name": token.name,
                "expires_at": _iso(token.expires_at),
            },
            201,
        )

    async def list_tokens(self, request: web.Request) -> web.Response:
        tenant_id = self._tenant(request)
        limit, after = _page_args(request)
        limit = min(limit, self.max_page)
        ids = sorted(
            t.token_id
            for t in self.tokens.values()
            if t.tenant_id == tenant_id and (after is None or t.token_id > after)
        )
        page = [self.tokens[i] for i in ids[:limit]]
        cursor = _cursor(page[-1].token_id) if len(ids) > limit else None
        data = [
            {
                "token_id": t.token_id,
                "tenant_id": t.tenant_id,
                "name": t.name,
                "created_at": _iso(t.created_at),
                "expires_at": _iso(t.expires_at),
                "revoked_at": None if t.revoked_at is None else _iso(t.revoked_at),
            }
            for t in page
        ]
        return _json({"data": data, "next_cursor": cursor})

    async def revoke_token(self, request: web.Request) -> web.Response:
        tenant_id = self._tenant(request)
        token = self.tokens.get(request.match_info["token_id"])
        if token is None or token.tenant_id != tenant_id:
            raise _not_found("Unknown token.")
        if token.revoked_at is None:
            token.revoked_at = self.clock()
        return web.Response(status=204)

    # --- usage, cache, Config API

    async def get_usage(self, request: web.Request) -> web.Response:
        tenant_id = request.match_info["tenant_id"]
        if tenant_id not in self.known:
            raise _not_found(f"Unknown tenant {tenant_id!r}.")
        today = datetime.fromtimestamp(self.clock(), UTC).date()
        try:  # without dates: this month's first day to today (enough for a stand-in)
            start = date.fromisoformat(request.query.get("start", today.replace(day=1).isoformat()))
            end = date.fromisoformat(request.query.get("end", today.isoformat()))
        except ValueError:
            raise _bad("start and end are dates YYYY-MM-DD.") from None
        group_by = request.query.get("group_by", "day")
        if group_by not in ("day", "model", "day,model") or start > end:
            raise _bad("group_by is day, model or day,model; start is not after end.")
        entries = [
            e
            for e in self.usage
            if e.tenant_id == tenant_id and start.isoformat() <= e.day <= end.isoformat()
        ]
        groups: dict[str, dict[str, Any]] = {}
        for e in entries:
            parts = {n: getattr(e, n) for n in group_by.split(",")}
            key = " ".join(parts.values())
            groups.setdefault(key, {"key": key, **parts, **_zero()})
            _add(groups[key], e)
        total = {**_zero(), "refused": self.refused.get(tenant_id, 0)}
        for e in entries:
            _add(total, e)
        month = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m")
        tenant = self.tenants.get(tenant_id)
        budget = (tenant.document.get("budget") or {}) if tenant else {}
        spent = sum(e.cost_usd or 0 for e in self.usage if e.tenant_id == tenant_id)
        return _json(
            {
                "tenant_id": tenant_id,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "group_by": group_by,
                "groups": [groups[k] for k in sorted(groups)],
                "total": total,
                "budget": {
                    "month": month,
                    "monthly_usd": budget.get("monthly_usd"),
                    "spent_usd": round(spent, 6),
                    "reserved_usd": 0.0,
                },
            }
        )

    async def invalidate(self, request: web.Request) -> web.Response:
        self.invalidated.append(request.match_info["user_id"])
        return web.Response(status=204)

    async def user_config(self, request: web.Request) -> web.Response:
        tenant = self.tenants.get(request.match_info["user_id"])
        if tenant is None:
            raise _not_found("No config for this user.", "config_not_found")
        return _json(tenant.document)


def _zero() -> dict[str, Any]:
    return {
        "requests": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cached_tokens": 0,
        "cost_usd": 0.0,
        "unpriced_requests": 0,
    }


def _add(group: dict[str, Any], e: UsageEntry) -> None:
    group["requests"] += e.requests
    group["input_tokens"] += e.input_tokens
    group["output_tokens"] += e.output_tokens
    group["cached_tokens"] += e.cached_tokens
    if e.cost_usd is None:
        group["unpriced_requests"] += e.requests
    else:
        group["cost_usd"] = round(group["cost_usd"] + e.cost_usd, 6)


def _page_args(request: web.Request) -> tuple[int, str | None]:
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise _bad("limit is 1..1000.")
    cursor = request.query.get("cursor")
    if cursor is None:
        return limit, None
    try:
        return limit, base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise _bad("Unknown cursor.") from None


def _cursor(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7396."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = _merge(result.get(name), value)
    return result


def _keep_masked_keys(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """An api_key equal to the mask of the stored key on the same route keeps that key."""
    patch = orjson.loads(orjson.dumps(patch))
    old = {m.get("model_name"): m for m in stored.get("models", [])}
    for route in patch.get("models") or []:
        key, was = route.get("api_key"), old.get(route.get("model_name"), {}).get("api_key")
        if was is not None and key == mask_key(was):
            route["api_key"] = was
    default, was = patch.get("default"), (stored.get("default") or {}).get("api_key")
    if isinstance(default, dict) and was is not None and default.get("api_key") == mask_key(was):
        default["api_key"] = was
    return patch


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """Serve `app` on loopback from a thread of its own (the tests that use it are
    synchronous: they run the CLI as a process); yields its URL."""
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    port = free_port()
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@contextmanager
def standin_in_thread(standin: StandIn) -> Iterator[StandIn]:
    with serve_in_thread(standin.app()) as url:
        standin.url = url
        yield standin


# --- the real gateway


class GatewayStartError(Exception):
    """The gateway refused to start in built-in-store mode (no management API yet)."""


@dataclass
class LiveGateway:
    url: str
    admin_key: str = ADMIN_KEY

    def add_usage(
        self, tenant_id: str, model: str, requests: int, *, day: str | None = None
    ) -> None:
        """Real requests through the proxy with a fresh token; `day` must be today.
        The tenant's routes must answer `model` (e.g. `default: {provider: mock}`)."""
        today = datetime.now(UTC).date().isoformat()
        assert day in (None, today)
        before = self._requests_today(tenant_id, today)
        minted = _post(
            f"{self.url}/admin/tenants/{tenant_id}/tokens",
            {"name": "usage"},
            {"Authorization": f"Bearer {self.admin_key}"},
        )
        for _ in range(requests):
            _post(
                f"{self.url}/users/{tenant_id}/v1/chat/completions",
                {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                {"Authorization": f"Bearer {minted['token']}"},
            )
        deadline = time.monotonic() + 10  # usage is written in batches, off the request path
        while self._requests_today(tenant_id, today) < before + requests:
            assert time.monotonic() < deadline, "the usage report never showed the requests"
            time.sleep(0.1)

    def _requests_today(self, tenant_id: str, today: str) -> int:
        request = urllib.request.Request(
            f"{self.url}/admin/tenants/{tenant_id}/usage?start={today}&end={today}",
            headers={"Authorization": f"Bearer {self.admin_key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(orjson.loads(response.read())["total"]["requests"])
        except urllib.error.HTTPError as e:
            if e.code == 404:  # no usage yet
                return 0
            raise


def _post(url: str, body: Any, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(
        url,
        data=orjson.dumps(body),
        headers={**headers, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return orjson.loads(response.read())


@contextmanager
def live_gateway(
    directory: Path, *, database_url: str | None = None, workers: int | None = None, **env: str
) -> Iterator[LiveGateway]:
    """`tenant-proxy serve --dev` in built-in-store mode on a loopback port (SQLite in
    `directory` unless `database_url`); with `workers`, gunicorn with that many; `env`
    adds variables (REDIS_URL, ...)."""
    port = free_port()
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "PROXY_", "REDIS_", "CONFIG_API", "AUTH_"))
    }
    environ = {
        **base,
        "DATABASE_URL": database_url or f"sqlite:///{directory}/store.db",
        "PROXY_ADMIN_KEY": ADMIN_KEY,
        "PROXY_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(port),
        "PROXY_REQUEST_LOG": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(directory / "metrics"),
        **env,
    }
    args = ["serve", "--dev"] if workers is None else ["serve", "--workers", str(workers)]
    binary = str(Path(sys.executable).with_name("tenant-proxy"))
    err = directory / "gateway-err.log"
    with open(directory / "gateway-out.log", "wb") as out, open(err, "wb") as errf:
        proc = subprocess.Popen([binary, *args], env=environ, stdout=out, stderr=errf)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(url, proc, err)
        yield LiveGateway(url)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_answering(url: str, proc: subprocess.Popen[bytes], err: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = err.read_text()[-2000:]
            if "built-in tenant store is not available" in log:
                raise GatewayStartError(log.strip())
            raise AssertionError(f"the gateway exited early: {log}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise AssertionError("the gateway did not answer /healthz within 30 s")
