"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from proxy import keys
from proxy.app import create_app
from proxy.settings import Settings
from proxy.telemetry.metrics import Metrics
from tests.conftest import openai_route
from tests.helpers import free_port

MOCK = {"default": {"provider": "mock"}}


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


async def _assert_json_500(resp) -> None:
    assert resp.status == 500
    assert resp.headers["Content-Type"].startswith("application/json")
    error = (await resp.json())["error"]
    assert (error["type"], error["code"]) == ("server_error", "internal_error")
    assert error["message"] == f"Internal error (request id {resp.headers['x-request-id']})."


async def test_an_exception_in_readyz_answers_json(aiohttp_client, write_config, caplog):
    class BrokenCheck:
        @property
        def name(self) -> str:
            raise RuntimeError("check exploded")

        async def check(self) -> str | None:
            return None

    app = await create_app(Settings.from_env({"PROXY_CONFIG": write_config(MOCK)}))
    app[keys.READINESS] = [BrokenCheck()]
    client = await aiohttp_client(app)
    await _assert_json_500(await client.get("/readyz"))
    assert "check exploded" in caplog.text


async def test_an_exception_in_metrics_answers_json(aiohttp_client, write_config, caplog):
    class BrokenMetrics(Metrics):
        def render(self) -> tuple[bytes, str]:
            raise RuntimeError("render exploded")

    app = await create_app(Settings.from_env({"PROXY_CONFIG": write_config(MOCK)}))
    app[keys.METRICS] = BrokenMetrics()
    client = await aiohttp_client(app)
    await _assert_json_500(await client.get("/metrics"))
    assert "render exploded" in caplog.text
