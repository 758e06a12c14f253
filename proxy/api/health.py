"""/healthz (alive), /readyz (dependencies reachable), /metrics (Prometheus text)."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from proxy import keys
from proxy.readiness import ReadinessCheck

CHECK_TIMEOUT_S = 2.0


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks = app[keys.READINESS]
    results = await asyncio.gather(*(_run(c) for c in checks))
    report = {c.name: (reason or "ok") for c, reason in zip(checks, results, strict=True)}
    ready = all(reason is None for reason in results)
    doc = {
        "status": "ready" if ready else "not_ready",
        "mode": app[keys.SETTINGS].mode,
        "checks": report,
    }
    return web.Response(
        body=orjson.dumps(doc), status=200 if ready else 503, content_type="application/json"
    )


async def _run(check: ReadinessCheck) -> str | None:
    try:
        return await asyncio.wait_for(check.check(), CHECK_TIMEOUT_S)
    except TimeoutError:
        return "timeout"
    except Exception as e:
        return type(e).__name__


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[keys.METRICS].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response
