"""create_app as each mode wires it, and the serving runner (gunicorn's and `serve --dev`'s)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import aiohttp
from aiohttp import web

from proxy.app import build_runner, create_app
from proxy.settings import Settings
from proxy.worker import GC_GEN0_THRESHOLD

EXAMPLE = Path(__file__).parents[1] / "examples" / "proxy.yaml"


async def test_a_started_worker_freezes_its_startup_objects_and_collects_in_larger_steps():
    threshold = gc.get_threshold()
    settings = Settings.from_env({"PROXY_CONFIG": str(EXAMPLE), "PROXY_REQUEST_LOG": "0"})
    runner = build_runner(await create_app(settings), settings)
    try:
        await runner.setup()
        # Modules, config and metrics no longer take part in every full collection,
        # and in-flight requests alone no longer trigger collections.
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, *threshold[1:])
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            ) as resp,
        ):
            assert resp.status == 200
            assert (await resp.json())["object"] == "chat.completion"
    finally:
        await runner.cleanup()
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def test_the_admin_api_is_mounted_in_multi_tenant_mode_only(make_proxy, make_mt_proxy):
    admin = {"Authorization": "Bearer admin-key-for-tests"}
    static = await make_proxy(
        {"default": {"provider": "mock"}}, PROXY_ADMIN_KEY="admin-key-for-tests"
    )
    resp = await static.delete("/admin/cache/users/u1", headers=admin)
    assert resp.status == 404  # static mode has no tenants to invalidate
    assert (await resp.json())["error"]["code"] == "not_found"
    multi = await make_mt_proxy()
    assert (await multi.delete("/admin/cache/users/u1", headers=admin)).status == 204
    # The sub-app is mounted ahead of the catch-all route that answers unknown paths.
    assert (await multi.get("/admin/nothing-here", headers=admin)).status == 404
    assert (await multi.get("/admin/nothing-here")).status == 401


async def test_the_serving_runner_answers_what_the_parser_refuses_as_json_and_keeps_the_deadline():
    settings = Settings.from_env(
        {"PROXY_CONFIG": str(EXAMPLE), "PROXY_REQUEST_LOG": "0", "PROXY_REQUEST_TIMEOUT": "0.3"}
    )
    runner = build_runner(await create_app(settings), settings)
    threshold = gc.get_threshold()
    try:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        for raw, status, code in (
            (b"G@T /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n", 400, b'"invalid_request"'),
            (b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n", 408, b'"request_timeout"'),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            async with asyncio.timeout(5):
                answer = await reader.read()  # and the connection is closed
            writer.close()
            assert answer.startswith(b"HTTP/1.") and f" {status} ".encode() in answer[:16]
            assert code in answer and b"application/json" in answer
    finally:
        await runner.cleanup()
        gc.unfreeze()
        gc.set_threshold(*threshold)
