"""The tenant-proxy command: clear one-line failures, exit codes, `serve --dev`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.helpers import free_port, spawn_logged, wait_until_answering

BIN = str(Path(sys.executable).with_name("tenant-proxy"))


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env}
    )


def test_an_invalid_config_stops_the_start_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - model_name: a\n    provider: openai\n")
    for command in ("serve", "check-config"):
        result = _run(command, "--config", str(bad))
        assert result.returncode == 1
        assert result.stderr == (
            f"tenant-proxy: {bad}: models[0].api_base: required for provider 'openai'\n"
        )


def test_a_bad_variable_is_named(tmp_path):
    result = _run("check-config", PROXY_PORT="eighty", PROXY_CONFIG=str(tmp_path / "x.yaml"))
    assert result.returncode == 1
    assert result.stderr.strip() == "tenant-proxy: PROXY_PORT='eighty' is not a whole number"


def test_usage_errors_exit_2_and_python_m_works(tmp_path):
    assert _run().returncode == 2
    good = tmp_path / "good.yaml"
    good.write_text("default: {provider: mock}\n")
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "check-config", "--config", str(good)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, f"ok: static mode, config {good}\n")


async def test_serve_dev_honours_host_and_port_and_warns_about_open_access(tmp_path):
    config = tmp_path / "proxy.yaml"
    config.write_text("default: {provider: mock}\n")
    port = free_port()
    env = {**os.environ, "PROXY_HOST": "0.0.0.0", "PROXY_PORT": str(port)}
    proc = await spawn_logged(tmp_path, BIN, "serve", "--dev", "--config", str(config), env=env)
    try:
        await wait_until_answering(f"http://127.0.0.1:{port}", proc, tmp_path)
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            async with session.post(url, json={"model": "m"}) as resp:
                assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert f"listening on http://127.0.0.1:{port}" in (tmp_path / "out.log").read_text()
    assert (
        "no auth.keys and listens on a non-loopback address" in (tmp_path / "err.log").read_text()
    )


async def test_serve_starts_in_multi_tenant_mode(tmp_path, redis_target, redis_client, config_api):
    from tests.conftest import JWT_SECRET

    config_api.docs["u1"] = {"default": {"provider": "mock"}}
    port = free_port()
    env = {
        **os.environ,
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(port),
        "PROXY_WORKERS": "1",
        **redis_target.env,
        "CONFIG_API_URL": config_api.url,
        "AUTH_JWT_SECRET": JWT_SECRET,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    proc = await spawn_logged(tmp_path, BIN, "serve", env=env)
    try:
        await wait_until_answering(f"http://127.0.0.1:{port}", proc, tmp_path)
        from tests.helpers import mint_jwt

        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"http://127.0.0.1:{port}/users/u1/v1/chat/completions",
                json={"model": "m"},
                headers={"Authorization": "Bearer " + mint_jwt("u1", JWT_SECRET)},
            ) as resp:
                assert resp.status == 200
            async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                assert (await resp.json())["mode"] == "multi_tenant"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "multi_tenant mode, Config API" in (tmp_path / "out.log").read_text()


def test_a_self_referencing_fallback_stops_the_start_naming_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - model_name: a\n    provider: mock\n    fallbacks: [a]\n")
    result = _run("check-config", "--config", str(bad))
    assert result.returncode == 1
    assert (
        result.stderr
        == f"tenant-proxy: {bad}: models[0].fallbacks[0]: 'a' names the route itself\n"
    )
