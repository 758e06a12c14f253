"""A real local Redis Cluster for the tests: three masters on free loopback ports.

`LocalCluster.start(directory)` runs three `redis-server --cluster-enabled yes` (no
persistence), joins them with `redis-cli --cluster create` and waits until every node
reports `cluster_state:ok`; `stop()` terminates them. The tests' session fixture
(tests/conftest.py) starts one per session when redis-server and redis-cli exist.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

MASTERS = 3


def cluster_binaries() -> tuple[str, str] | None:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    return (server, cli) if server and cli else None


def _free_ports(n: int) -> list[int]:
    """n distinct free ports whose bus ports (port + 10000) are free too."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


@dataclass
class LocalCluster:
    directory: Path
    ports: list[int]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """REDIS_URL for the gateway: one seed node."""
        return f"redis://127.0.0.1:{self.ports[0]}"

    @classmethod
    def start(cls, directory: Path, binaries: tuple[str, str]) -> LocalCluster:
        server, cli = binaries
        cluster = cls(directory, _free_ports(MASTERS))
        try:
            for port in cluster.ports:
                cluster.procs.append(cluster._start_node(server, port))
            for port in cluster.ports:
                cluster._wait(cli, port, "PING", "PONG")
            nodes = [f"127.0.0.1:{p}" for p in cluster.ports]
            subprocess.run(
                [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=30,
            )
            for port in cluster.ports:
                cluster._wait(cli, port, "CLUSTER INFO", "cluster_state:ok")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _start_node(self, server: str, port: int) -> subprocess.Popen[bytes]:
        node_dir = self.directory / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        args = [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"]
        args += ["--cluster-config-file", str(node_dir / "nodes.conf"), "--dir", str(node_dir)]
        args += ["--save", "", "--appendonly", "no", "--logfile", str(node_dir / "redis.log")]
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _wait(self, cli: str, port: int, command: str, expect: str, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while True:
            done = subprocess.run(
                [cli, "-h", "127.0.0.1", "-p", str(port), *command.split()],
                capture_output=True,
                timeout=5,
            )
            if expect in done.stdout.decode(errors="replace"):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis node {port}: no {expect!r} within {within} s")
            time.sleep(0.05)

    def stop_node(self, index: int) -> None:
        """Stop one master (its slots stay unserved: there are no replicas)."""
        proc = self.procs[index]
        proc.terminate()
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
