"""Running the gateway: gunicorn with uvloop workers, or one process for development.

`gunicorn_options()` is the whole gunicorn configuration; the repository's
`gunicorn.conf.py` and `tenant-proxy serve` both use it. This module must not
import prometheus-client or the app at import time: the master sets
PROMETHEUS_MULTIPROC_DIR first, and workers build the app after they fork.
"""

from __future__ import annotations

import glob
import ipaddress
import logging
import math
import os
import signal
import tempfile
from typing import Any

from proxy.redaction import display_url
from proxy.settings import Settings
from proxy.worker import hold_stop_signals

log = logging.getLogger("proxy.serving")

WORKER_CLASS = "aiohttp.GunicornUVLoopWebWorker"


def prepare_metrics_dir(environ: dict[str, str] | os._Environ[str]) -> str:
    """A clean PROMETHEUS_MULTIPROC_DIR shared by the master's workers."""
    path = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = tempfile.mkdtemp(prefix="tenant-proxy-metrics-")
        environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)
    return path


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def startup_banner(settings: Settings) -> list[str]:
    """What `serve` prints once it listens; warns when static mode is open to the network."""
    host = "127.0.0.1" if settings.server.host in ("0.0.0.0", "::", "") else settings.server.host
    url = f"http://{host}:{settings.server.port}"
    body = (
        "-H 'Content-Type: application/json' "
        + '-d \'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}\''
    )
    if settings.is_multi_tenant:
        return [
            f"tenant-proxy listening on {url} "
            f"(multi_tenant mode, Config API {display_url(settings.tenancy.config_api_url or '')})",
            f"try: curl -s {url}/users/USER_ID/v1/chat/completions "
            f"-H 'Authorization: Bearer <token for USER_ID>' {body}",
        ]
    from proxy.tenancy.static import load_static_config

    static = load_static_config(settings.tenancy.config_path, settings.tenancy.environ)
    if static.verifier is None and not is_loopback(settings.server.host):
        log.warning(
            "static mode has no auth.keys and listens on a non-loopback address: any caller "
            "that can reach it may use its routes and keys",
            extra={"host": settings.server.host},
        )
    return [
        f"tenant-proxy listening on {url} (static mode, config {settings.tenancy.config_path})",
        f"try: curl -s {url}/v1/chat/completions {body}",
    ]


def on_starting(server: Any) -> None:
    prepare_metrics_dir(os.environ)


def post_fork(server: Any, worker: Any) -> None:
    """Hold stop signals until the worker's event loop runs (`worker.release_stop_signals`).

    The uvloop worker registers its SIGTERM handler with the loop before the loop
    runs, then imports the app: a SIGTERM in that window (a deploy or a scale-down
    right after a worker was spawned) was lost, and the worker served on until
    gunicorn killed it at the graceful timeout, losing its telemetry queue. Blocked,
    the signal stays pending and is delivered once the loop can handle it.
    """
    hold_stop_signals()


def when_ready(server: Any) -> None:
    for line in startup_banner(Settings.from_env()):
        print(line, flush=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def gunicorn_options(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings.from_env()
    return {
        "bind": [f"{settings.server.host}:{settings.server.port}"],
        "workers": settings.server.workers,
        "worker_class": WORKER_CLASS,
        "wsgi_app": "proxy.app:create_runner",
        # gunicorn's deadline before it kills a worker; the worker itself stops
        # waiting for in-flight requests a little earlier (proxy.app.create_runner).
        "graceful_timeout": math.ceil(settings.server.graceful_timeout),
        "keepalive": math.ceil(settings.server.keepalive_timeout),
        "max_requests": settings.server.max_requests,
        "max_requests_jitter": settings.server.max_requests_jitter,
        "accesslog": None,
        # gunicorn's runtime control socket lives at one path per user: several
        # gateways on a host would fight over it, and we do not offer that surface.
        "control_socket_disable": True,
        "on_starting": on_starting,
        "post_fork": post_fork,
        "when_ready": when_ready,
        "child_exit": child_exit,
    }


def run_gunicorn(settings: Settings) -> None:
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(settings)

    class GatewayApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if key != "wsgi_app":
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from proxy.app import create_runner

            return create_runner

    GatewayApplication().run()


def run_dev(settings: Settings) -> None:
    """One process, no gunicorn: for development and debugging. Same runner as gunicorn's."""
    import asyncio

    import uvloop
    from aiohttp import web

    from proxy.app import build_runner, create_app
    from proxy.telemetry.logs import configure_logging

    configure_logging(settings.telemetry.log_level)

    async def serve() -> None:
        runner = build_runner(await create_app(settings), settings)
        await runner.setup()
        await web.TCPSite(runner, settings.server.host, settings.server.port).start()
        for line in startup_banner(settings):
            print(line, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    uvloop.run(serve())
