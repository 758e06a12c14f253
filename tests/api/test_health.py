"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from tests.conftest import openai_route
from tests.helpers import free_port


async def test_health_and_readiness(make_proxy):
    client = await make_proxy({"default": {"provider": "mock"}})
    health = await client.get("/healthz")
    assert (health.status, await health.json()) == (200, {"status": "ok"})
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ready", "mode": "static", "checks": {"config": "ok"}}


async def test_metrics_count_requests_overhead_upstream_time_and_errors(make_proxy, upstream):
    dead = f"http://127.0.0.1:{free_port()}"
    client = await make_proxy(
        {
            "models": [openai_route(upstream.url), openai_route(dead, model="dead")],
            "default": {"provider": "mock"},
        }
    )
    for _ in range(3):
        await client.post("/v1/chat/completions", json={"model": "gpt-4o-mini"})
    await client.post("/v1/chat/completions", json={"model": "dead"})
    await client.post("/v1/chat/completions", json={"model": "some-random-name"})
    text = await (await client.get("/metrics")).text()
    assert 'tenant_proxy_requests_total{model="gpt-4o-mini",status="200"} 3.0' in text
    assert 'tenant_proxy_requests_total{model="dead",status="502"} 1.0' in text
    # Model names outside the config are one label value, so clients cannot explode cardinality.
    assert 'tenant_proxy_requests_total{model="(default)",status="200"} 1.0' in text
    assert "some-random-name" not in text
    assert 'tenant_proxy_upstream_errors_total{kind="connect"} 1.0' in text
    assert "tenant_proxy_overhead_seconds_count 5.0" in text
    assert "tenant_proxy_upstream_seconds_count 4.0" in text  # the dead route never got an answer
    assert 'tenant_proxy_overhead_seconds_bucket{le="+Inf"} 5.0' in text
    assert "tenant_proxy_in_flight_requests 0.0" in text
