"""What a tenant config lookup costs: L1 hit, L2 (Redis) hit, and a miss to the Config API.

Uses the gateway's own resolver, Redis client and Config API client against the
local Redis and a mock Config API on loopback (started here). Also times the other
per-request work multi-tenant mode adds to an L1 hit: the user-path split and the
cached token check.

    python -m bench.config_lookup [--redis redis://127.0.0.1:6379/14] [--n 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import timeit

import aiohttp
from aiohttp import web

from bench.mock_config_api import MockConfigAPI
from bench.processes import free_port
from proxy.api.paths import split_user_target
from proxy.cache.configs import ConfigCache
from proxy.cache.redis_client import open_redis
from proxy.keyring import KeyRing
from proxy.redis_gate import RedisGate
from proxy.tasks import TaskSet
from proxy.telemetry.metrics import Metrics
from proxy.tenancy.config_api import ConfigAPIClient
from proxy.tenancy.resolver import TenantResolver
from proxy.tenancy.tokens import JWTVerifier, TokenAuthenticator

SECRET = "bench-secret-not-for-production-0123456789"


def _pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _line(name: str, samples_us: list[float]) -> str:
    return (
        f"| {name} | {statistics.median(samples_us):,.1f} | {_pct(samples_us, 90):,.1f} | "
        f"{_pct(samples_us, 99):,.1f} |"
    )


async def measure(redis_url: str, n: int) -> str:
    port = free_port()
    api_app = MockConfigAPI(n + 10, "http://127.0.0.1:9").app()
    runner = web.AppRunner(api_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    redis = open_redis(redis_url, 0.5)
    await redis.flushdb()
    gate = RedisGate(0.5)
    session = aiohttp.ClientSession()
    tasks = TaskSet()
    api = ConfigAPIClient(session, f"http://127.0.0.1:{port}", api_key=None, timeout=5)
    l2 = ConfigCache(redis, gate, ttl=3600, keyring=KeyRing((("k", os.urandom(32)),)))
    resolver = TenantResolver(
        source=api,
        l2=l2,
        tasks=tasks,
        metrics=Metrics(),
        l1_size=n + 10,
        l1_ttl=3600,
        negative_ttl=5,
        degraded_ttl=5,
        stale_if_error=300,
    )
    resolver.subscribed = True
    users = [f"t{i:05d}" for i in range(n)]
    miss, l2_hit, l1_hit = [], [], []
    clock = time.perf_counter
    for user in users:  # cold: Config API, then written to Redis and L1
        started = clock()
        await resolver.config_for(user)
        miss.append((clock() - started) * 1e6)
    resolver.set_subscribed(True)  # makes L1 due: the next round reads Redis
    for user in users:
        started = clock()
        await resolver.config_for(user)
        l2_hit.append((clock() - started) * 1e6)
    for user in users:
        started = clock()
        resolver.cached(user)
        l1_hit.append((clock() - started) * 1e6)
    await session.close()
    await redis.flushdb()
    await redis.aclose()
    await runner.cleanup()

    import jwt

    token = jwt.encode({"sub": "t00001", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    auth = TokenAuthenticator(
        [JWTVerifier(secret=SECRET, public_key=None, leeway=30)], cache_ttl=30
    )
    headers = {"Authorization": "Bearer " + token}
    auth.authenticate(headers, "t00001")
    loops = 200_000
    auth_us = (
        timeit.timeit(lambda: auth.authenticate(headers, "t00001"), number=loops) / loops * 1e6
    )
    proxy_auth, proxy_headers = _proxy_token_check()
    proxy_us = (
        timeit.timeit(lambda: proxy_auth.authenticate(proxy_headers, "t00001"), number=loops)
        / loops
        * 1e6
    )
    path_us = (
        timeit.timeit(lambda: split_user_target("/users/t00001/v1/chat/completions"), number=loops)
        / loops
        * 1e6
    )
    l1_us = statistics.median(l1_hit)
    return "\n".join(
        [
            f"# Config lookup cost — {time.strftime('%Y-%m-%d %H:%M:%S')}",
            "",
            f"{n:,} tenants; the gateway's resolver, Redis at {redis_url}, "
            "mock Config API on loopback.",
            "",
            "| lookup | median µs | p90 µs | p99 µs |",
            "|---|---|---|---|",
            _line("L1 hit (this worker's LRU)", l1_hit),
            _line("L2 hit (Redis MGET, open, parse)", l2_hit),
            _line("miss (Config API, parse, Redis write)", miss),
            "",
            "Other work an L1-hit request does in multi-tenant mode (timeit, µs per call):",
            "",
            f"- user path split and check: {path_us:.2f}",
            f"- token check, cached: {auth_us:.2f} (JWT); {proxy_us:.2f} (proxy token)",
            f"- total with the L1 hit: {path_us + auth_us + l1_us:.2f} µs",
            "",
        ]
    )


def _proxy_token_check() -> tuple[TokenAuthenticator, dict[str, str]]:
    """A built-in-store authenticator whose token check is cached (as after a first request)."""
    from proxy.tasks import TaskSet
    from proxy.tenancy.proxy_tokens import Grant, ProxyTokens, mint_token, token_digest

    class NoStore:  # a cached check never reaches the store
        pass

    tokens = ProxyTokens(NoStore(), tasks=TaskSet(), cache_ttl=30)  # type: ignore[arg-type]
    token = mint_token()
    until = time.time() + 3600
    tokens._keep(token_digest(token), "t00001", Grant(b"t00001", until, until))
    return TokenAuthenticator([], cache_ttl=30, proxy_tokens=tokens), {
        "Authorization": "Bearer " + token
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args(argv)
    import uvloop

    print(uvloop.run(measure(args.redis, args.n)))


if __name__ == "__main__":
    main()
