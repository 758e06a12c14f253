"""Starting, pinning, watching and stopping the processes a benchmark needs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PYTHON = sys.executable
TENANT_PROXY = str(Path(sys.executable).with_name("tenant-proxy"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def pinned(cmd: list[str], cpus: str | None) -> list[str]:
    """`cmd` under `taskset -c cpus` when pinning is asked for and possible."""
    if cpus is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", cpus, *cmd]


@dataclass
class Processes:
    """Everything a benchmark started, stopped in reverse order on exit."""

    log_dir: Path
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(
        self,
        name: str,
        cmd: list[str],
        *,
        env: dict[str, str] | None = None,
        cpus: str | None = None,
    ) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                pinned(cmd, cpus),
                env={**os.environ, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append((name, proc))
        return proc

    def named(self, name: str) -> subprocess.Popen[bytes]:
        return next(proc for started, proc in self.started if started == name)

    def stop_all(self) -> None:
        for _, proc in reversed(self.started):
            stop(proc)
        self.started.clear()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def start_redis(procs: Processes, port: int, cpus: str | None = None) -> None:
    """A throwaway redis-server on loopback that keeps nothing on disk."""
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    procs.start("redis", [*cmd, "--appendonly", "no"], cpus=cpus)


def start_config_api(
    procs: Processes,
    port: int,
    tenants: int,
    upstream: str,
    stream_upstream: str | None = None,
    cpus: str | None = None,
    *,
    budget: bool = True,
) -> str:
    """bench.mock_config_api on loopback, ready; returns its base URL."""
    cmd = [PYTHON, "-m", "bench.mock_config_api", "--port", str(port)]
    cmd += ["--tenants", str(tenants), "--upstream", upstream]
    if not budget:
        cmd.append("--no-budget")
    if stream_upstream is not None:
        cmd += ["--stream-upstream", stream_upstream]
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/stats", procs.start("config-api", cmd, cpus=cpus))
    return url


def stop(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_http(url: str, proc: subprocess.Popen[bytes], *, timeout: float = 60.0) -> None:
    """Poll `url` until it answers 200; fail fast if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0
