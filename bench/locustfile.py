"""Locust users for the gateway benchmark (driven by bench/run.py; env vars below).

Each request records, besides Locust's own end-to-end time:
  - "proxy overhead (us)", in microseconds: end-to-end (or, for streams, time to
    response headers) minus
    the upstream time the gateway reports in x-upstream-request-start/stop;
  - "time to first byte": streams only, until the first SSE bytes arrive.

BENCH_TARGET   gateway-multi (default) | gateway-static | direct
BENCH_HOSTS    several base URLs (comma-separated replicas of one gateway): users are
               spread over them round-robin, and each metric is named per replica
               ("chat json @2"); bench/report.py sums them back (unset: Locust's --host)
BENCH_TENANTS  how many tenants to pick from (default 10000)
BENCH_MIX      uniform (default) | hot: 80% of requests go to 1% of tenants
BENCH_STREAM   fraction of streaming requests (default 0.5)
BENCH_JWT_SECRET   HS256 secret the gateway verifies (multi-tenant)
BENCH_SAMPLES  file to append raw overhead samples (ms) to, for exact percentiles and the histogram
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import random
import time

from locust import FastHttpUser, between, events, task  # noqa: F401 - between kept for tuning

TARGET = os.environ.get("BENCH_TARGET", "gateway-multi")
TENANTS = int(os.environ.get("BENCH_TENANTS", "10000"))
MIX = os.environ.get("BENCH_MIX", "uniform")
STREAM_RATIO = float(os.environ.get("BENCH_STREAM", "0.5"))
SECRET = os.environ.get("BENCH_JWT_SECRET", "bench-secret-not-for-production").encode()
SAMPLES_FILE = os.environ.get("BENCH_SAMPLES")
HOSTS = [h.rstrip("/") for h in os.environ.get("BENCH_HOSTS", "").split(",") if h.strip()]
REPLICA_MARK = " @"  # "chat json @2": the metric as replica 2 of HOSTS answered it
_users = itertools.count()

BODY = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Hello, how are you today?"}],
}
BODY_JSON = json.dumps(BODY).encode()
BODY_STREAM = json.dumps({**BODY, "stream": True}).encode()
HOT = max(1, TENANTS // 100)
OVERHEAD = "proxy overhead (us)"
_samples: list[float] = []


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(sub: str, secret: bytes = SECRET, ttl_s: int = 24 * 3600) -> str:
    """An HS256 JWT for `sub` (no dependency: the format is three base64url parts)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps({"sub": sub, "exp": int(time.time()) + ttl_s}).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def pick_tenant() -> int:
    if MIX == "hot" and random.random() < 0.8:
        return random.randrange(HOT)
    return random.randrange(TENANTS)


def _upstream_ms(headers: object) -> float | None:
    try:
        start = float(headers["x-upstream-request-start"])  # type: ignore[index]
        stop = float(headers["x-upstream-request-stop"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None
    return (stop - start) * 1000


class GatewayUser(FastHttpUser):
    # Closed loop, no think time: each user sends its next request when one ends.
    def on_start(self) -> None:
        self._tokens: dict[int, str] = {}
        self._base, self._replica = "", ""  # Locust's --host, metrics named as they are
        if len(HOSTS) > 1:
            n = next(_users) % len(HOSTS)
            self._base, self._replica = HOSTS[n], f"{REPLICA_MARK}{n + 1}"

    def _path_and_headers(self) -> tuple[str, dict[str, str]]:
        headers = {"Content-Type": "application/json"}
        if TARGET == "gateway-multi":
            tenant = pick_tenant()
            token = self._tokens.get(tenant)
            if token is None:
                token = self._tokens[tenant] = mint_jwt(f"t{tenant:05d}")
            headers["Authorization"] = "Bearer " + token
            return f"/users/t{tenant:05d}/v1/chat/completions", headers
        return "/v1/chat/completions", headers

    @task
    def chat(self) -> None:
        path, headers = self._path_and_headers()
        stream = random.random() < STREAM_RATIO
        name = ("chat stream" if stream else "chat json") + self._replica
        started = time.perf_counter()
        with self.client.post(
            self._base + path,
            data=BODY_STREAM if stream else BODY_JSON,
            headers=headers,
            name=name,
            stream=stream,
            catch_response=True,
        ) as resp:
            headers_ms = (time.perf_counter() - started) * 1000
            if stream and resp.status_code == 200:
                first = None
                for chunk in resp.iter_content(chunk_size=65536):
                    if first is None and chunk:
                        first = (time.perf_counter() - started) * 1000
                total_ms = (time.perf_counter() - started) * 1000
                resp.request_meta["response_time"] = total_ms
                if first is not None:
                    _fire("TTFB", "time to first byte" + self._replica, first)
            if resp.status_code != 200:
                resp.failure(f"status {resp.status_code}")
                return
            upstream = _upstream_ms(resp.headers)
            if upstream is not None:
                overhead = (headers_ms if stream else resp.request_meta["response_time"]) - upstream
                # In microseconds: Locust rounds times under 100 to whole units.
                _fire("OVERHEAD", OVERHEAD + self._replica, max(overhead, 0.0) * 1000)
            resp.success()


def _fire(kind: str, name: str, value: float) -> None:
    events.request.fire(
        request_type=kind,
        name=name,
        response_time=value,
        response_length=0,
        exception=None,
        context={},
    )
    if kind == "OVERHEAD" and SAMPLES_FILE:
        _samples.append(value / 1000)


@events.test_stop.add_listener
def _write_samples(**_: object) -> None:
    if SAMPLES_FILE and _samples:
        with open(SAMPLES_FILE, "a") as f:
            f.write("\n".join(f"{s:.4f}" for s in _samples) + "\n")
        _samples.clear()
