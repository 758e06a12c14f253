"""The gateway serves with a read-only root filesystem, writing only to the two
directories a container mounts for it (PROMETHEUS_MULTIPROC_DIR and TMPDIR).

`tenant-proxy serve` (gunicorn, two workers) runs in its own user and mount namespace
(`unshare --map-root-user --mount`) in which `/` is remounted read-only and two fresh
tmpfs are mounted for the metrics and temp directories: what a container with
`read_only: true` (Compose) or `readOnlyRootFilesystem: true` (Kubernetes) and two
tmpfs/emptyDir volumes gives it. HOME and the working directory are on the read-only
root. Skips where unprivileged namespaces are not allowed.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.deploy.files import ROOT
from tests.helpers import free_port, spawn_logged, wait_until_answering

pytestmark = pytest.mark.slow

SCRIPT = """
set -e
mount -o remount,bind,ro /
mount -t tmpfs -o size=32m tmpfs "$TMPDIR"
mount -t tmpfs -o size=32m tmpfs "$METRICS_MOUNT"
cd "$HOME"
if touch "$HOME/probe" 2>/dev/null; then echo "the root is writable" >&2; exit 97; fi
exec "$GATEWAY" serve
"""


def _namespaces_allowed() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--map-root-user", "--mount", "sh", "-c", "mount -o remount,bind,ro /"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(
    not _namespaces_allowed(), reason="unprivileged user and mount namespaces are not allowed"
)
async def test_serve_with_a_read_only_root(tmp_path: Path):
    home, tmp, metrics = tmp_path / "home", tmp_path / "tmp", tmp_path / "metrics"
    for directory in (home, tmp, metrics):
        directory.mkdir()
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "METRICS_MOUNT": str(metrics),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics / "gateway"),  # made by the gateway
        "GATEWAY": str(Path(sys.executable).parent / "tenant-proxy"),
        "PROXY_CONFIG": str(ROOT / "examples" / "proxy.yaml"),
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(port),
        "PROXY_WORKERS": "2",
        "PROXY_METRICS_FLUSH_INTERVAL": "0.1",
        "PROXY_GRACEFUL_TIMEOUT": "5",
    }
    command = ["unshare", "--map-root-user", "--mount", "sh", "-c", SCRIPT]
    proc = await spawn_logged(tmp_path, *command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_answering(url, proc, tmp_path)
        async with aiohttp.ClientSession() as session:
            for _ in range(4):  # both workers, most likely
                chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
                async with session.post(url + "/v1/chat/completions", json=chat) as resp:
                    assert resp.status == 200
                    assert (await resp.json())["object"] == "chat.completion"
            counted = await _requests_counted(session, url)
        assert counted >= 4
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    errors = (tmp_path / "err.log").read_text()
    assert code == 0, errors[-3000:]
    assert "Read-only file system" not in errors and "Traceback" not in errors, errors[-3000:]
    assert not list(home.iterdir()), "nothing may be written outside the mounted directories"


async def _requests_counted(session: aiohttp.ClientSession, url: str) -> float:
    """tenant_proxy_requests_total summed over its samples, once the workers flushed."""
    total = 0.0
    for _ in range(100):
        async with session.get(url + "/metrics") as resp:
            text = await resp.text()
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("tenant_proxy_requests_total{")
        )
        if total >= 4:
            return total
        await asyncio.sleep(0.1)  # workers flush every PROXY_METRICS_FLUSH_INTERVAL
    return total
