"""Telemetry through the real app to a real receiver: shapes, speed, retries, spill."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac

import aiohttp
import orjson
import pytest
from aiohttp import web

from proxy import keys
from proxy.ids import IdGenerator
from proxy.settings import TelemetrySettings
from proxy.tasks import TaskSet
from proxy.telemetry.webhook import WebhookSink
from tests.conftest import bearer, openai_route, tenant_doc

CHAT = "/v1/chat/completions"
FAST = {"TELEMETRY_MAX_BACKOFF": "0.05", "PROXY_GRACEFUL_TIMEOUT": "3"}


def _ids(events, event_type="request_processed"):
    return {e["event_id"] for e in events if e["event_type"] == event_type}


def _assert_request_event(event, *, mode):
    assert set(event) >= {
        "event_type",
        "event_id",
        "timestamp",
        "model",
        "provider",
        "duration_ms",
        "status",
        "input_tokens",
        "output_tokens",
        "request_id",
        "deployment_mode",
        "usage_estimated",
    }
    assert event["deployment_mode"] == mode
    assert event["status"] in ("success", "error")
    assert isinstance(event["event_id"], str) and isinstance(event["request_id"], str)
    assert isinstance(event["duration_ms"], float)
    stamp = dt.datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))
    assert stamp.utcoffset() == dt.timedelta(0)
    assert str(event["timestamp"]).endswith("Z")


async def test_static_mode_events(make_proxy, upstream, receiver, sink):
    client = await make_proxy(
        {"models": [openai_route(upstream.url)], "default": {"provider": "mock"}},
        TELEMETRY_WEBHOOK_URL=receiver.url,
        **FAST,
    )
    await client.post(
        CHAT, json={"model": "gpt-4o-mini"}, headers={"Authorization": "Bearer sk-client-secret"}
    )
    await client.post(CHAT, json={"model": "unknown", "stream": True})
    await client.post(CHAT, data=b"{", headers={"Content-Type": "application/json"})
    events = await receiver.wait_for(lambda ev: len(_ids(ev)) == 3)
    assert [e["event_type"] for e in events][0] == "server_start"
    ok, mock, bad = receiver.of_type("request_processed")
    for event in (ok, mock, bad):
        _assert_request_event(event, mode="static")
        assert "user_id" not in event  # static mode has no users
    assert (ok["status"], ok["input_tokens"], ok["output_tokens"], ok["provider"]) == (
        "success",
        11,
        4,
        "openai",
    )
    assert (mock["status"], mock["stream"], mock["provider"]) == ("success", True, "mock")
    assert (bad["status"], bad["status_code"], bad["error_code"]) == ("error", 400, "invalid_json")
    assert [r.event_id for r in sink.records] == [e["event_id"] for e in (ok, mock, bad)]
    await client.close()  # server_stop is sent on the way out
    assert len(receiver.of_type("server_stop")) == 1
    everything = b"".join(receiver.bodies)
    assert (
        b"sk-" not in everything
        and b"Authorization" not in everything
        and b"messages" not in everything
    )


async def test_multi_tenant_events_carry_the_user(make_mt_proxy, config_api, upstream, receiver):
    config_api.docs["ann"] = tenant_doc(upstream.url)
    client = await make_mt_proxy(TELEMETRY_WEBHOOK_URL=receiver.url, **FAST)
    for _ in range(2):
        await client.post(
            "/users/ann/v1/chat/completions", json={"model": "gpt-4o-mini"}, headers=bearer("ann")
        )
    await client.post(
        "/users/ghost/v1/chat/completions", json={"model": "m"}, headers=bearer("ghost")
    )
    await receiver.wait_for(lambda ev: len(_ids(ev)) == 3)
    (miss,) = receiver.of_type("config_cache_miss")
    (hit,) = receiver.of_type("config_cache_hit")
    (failed,) = receiver.of_type("config_load_failed")
    assert (miss["user_id"], hit["user_id"], hit["cache"]) == ("ann", "ann", "l1")
    assert (failed["user_id"], failed["error_code"]) == ("ghost", "config_not_found")
    for event in (miss, hit, failed):
        assert event["deployment_mode"] == "multi_tenant" and isinstance(event["event_id"], str)
    for event in receiver.of_type("request_processed"):
        _assert_request_event(event, mode="multi_tenant")
    assert [e["user_id"] for e in receiver.of_type("request_processed")] == ["ann", "ann", "ghost"]


async def test_a_client_that_goes_away_mid_stream_is_reported(make_proxy, receiver, aiohttp_server):
    release = asyncio.Event()

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n')
        await release.wait()  # the rest never comes before the client leaves
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", stream)
    server = await aiohttp_server(app)
    client = await make_proxy(
        {"models": [openai_route(str(server.make_url("")).rstrip("/"))]},
        TELEMETRY_WEBHOOK_URL=receiver.url,
        **FAST,
    )
    resp = await client.post(CHAT, json={"model": "gpt-4o-mini", "stream": True})
    await resp.content.readuntil(b"\n\n")
    resp.close()
    await receiver.wait_for(lambda ev: len(_ids(ev)) == 1)
    (event,) = receiver.of_type("request_processed")
    release.set()
    _assert_request_event(event, mode="static")
    assert (event["status"], event["status_code"], event["error_code"], event["stream"]) == (
        "error",
        499,
        "client_disconnected",
        True,
    )
    # SPEC 8.1: settled from what was relayed ("hi": 1 token), and marked as estimated.
    assert (event["output_tokens"], event["usage_estimated"]) == (1, True)
    assert event["input_tokens"] and event["cost_usd"]


async def test_a_hanging_receiver_never_slows_a_request(make_proxy, receiver):
    receiver.hang = asyncio.Event()  # the receiver holds every POST (5 s and more)
    client = await make_proxy(
        {"default": {"provider": "mock"}}, TELEMETRY_WEBHOOK_URL=receiver.url, **FAST
    )
    loop = asyncio.get_running_loop()
    for _ in range(5):
        started = loop.time()
        resp = await client.post(CHAT, json={"model": "m"})
        assert resp.status == 200
        assert loop.time() - started < 0.3
    assert receiver.posts >= 1  # the sender is trying, in its own task


async def test_an_outage_loses_nothing(make_proxy, receiver, sink):
    receiver.status = 500
    client = await make_proxy(
        {"default": {"provider": "mock"}}, TELEMETRY_WEBHOOK_URL=receiver.url, **FAST
    )
    for _ in range(20):
        await client.post(CHAT, json={"model": "m"})
    await receiver.wait_posts(5)  # the sender has met the outage and is retrying
    receiver.status = 200
    expected = {r.event_id for r in await sink.wait_for(20)}
    await receiver.wait_for(lambda ev: _ids(ev) >= expected)
    text = await (await client.get("/metrics")).text()
    assert 'tenant_proxy_telemetry_events_total{outcome="retried"}' in text


async def test_signature_and_batches(make_proxy, receiver):
    client = await make_proxy(
        {"default": {"provider": "mock"}},
        TELEMETRY_WEBHOOK_URL=receiver.url,
        TELEMETRY_WEBHOOK_SECRET="whsec-test-123",
        TELEMETRY_BATCH_MAX="50",
        **FAST,
    )
    await client.post(CHAT, json={"model": "m"})
    await receiver.wait_for(lambda ev: len(_ids(ev)) == 1)
    for body, headers in zip(receiver.bodies, receiver.headers, strict=True):
        assert isinstance(orjson.loads(body), list)  # arrays, even for one event
        expected = "sha256=" + hmac.new(b"whsec-test-123", body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Telemetry-Signature"], expected)


async def test_a_4xx_is_final(make_proxy, receiver):
    receiver.status = 400
    client = await make_proxy(
        {"default": {"provider": "mock"}}, TELEMETRY_WEBHOOK_URL=receiver.url, **FAST
    )
    await client.post(CHAT, json={"model": "m"})
    text = ""
    for _ in range(100):  # metrics flush every second: poll the exposition
        text = await (await client.get("/metrics")).text()
        if 'outcome="dropped"} 2.0' in text:
            break
        await asyncio.sleep(0.05)
    assert (
        'tenant_proxy_telemetry_events_total{outcome="dropped"} 2.0' in text
    )  # server_start + request
    assert 'outcome="retried"' not in text or 'outcome="retried"} 0.0' in text


async def test_overflow_spills_to_redis_and_is_replayed(
    make_proxy, receiver, redis_target, redis_client, sink
):
    receiver.status = 503
    env = {
        "TELEMETRY_WEBHOOK_URL": receiver.url,
        **redis_target.env,
        "TELEMETRY_QUEUE_SIZE": "3",
        **FAST,
    }
    client = await make_proxy({"default": {"provider": "mock"}}, **env)
    for _ in range(15):
        await client.post(CHAT, json={"model": "m"})
    spilled = 0
    for _ in range(200):  # the sender spills between retries
        spilled = await redis_client.llen("telemetry:spill")
        if spilled >= 10:
            break
        await asyncio.sleep(0.02)
    assert spilled >= 10
    receiver.status = 200
    expected = {r.event_id for r in await sink.wait_for(15)}
    await receiver.wait_for(lambda ev: _ids(ev) >= expected)
    assert await redis_client.llen("telemetry:spill") == 0
    counters = client.server.app[keys.TELEMETRY].counters
    assert counters.dropped == 0 and counters.replayed == counters.spilled >= 10


async def test_shutdown_with_the_receiver_down_spills_and_another_worker_replays(
    make_proxy, receiver, redis_target, redis_client, sink
):
    env = {
        "TELEMETRY_WEBHOOK_URL": receiver.url,
        **redis_target.env,
        **FAST,
        "PROXY_GRACEFUL_TIMEOUT": "1",
    }
    receiver.status = 502
    first = await make_proxy({"default": {"provider": "mock"}}, **env)
    for _ in range(5):
        await first.post(CHAT, json={"model": "m"})
    await first.close()  # shutdown: cannot deliver, so the queue goes to Redis
    assert await redis_client.llen("telemetry:spill") >= 5
    receiver.status = 200
    await make_proxy({"default": {"provider": "mock"}}, **env)  # another worker starts
    expected = {r.event_id for r in sink.records}
    await receiver.wait_for(lambda ev: _ids(ev) >= expected)


async def test_a_full_queue_without_redis_drops_the_oldest_and_says_so(
    make_proxy, receiver, sink, caplog
):
    receiver.hang = asyncio.Event()  # the sender is stuck on its first POST
    client = await make_proxy(
        {"default": {"provider": "mock"}},
        TELEMETRY_WEBHOOK_URL=receiver.url,
        TELEMETRY_QUEUE_SIZE="3",
        **FAST,
    )
    await receiver.wait_posts(1)  # server_start is in flight
    for _ in range(10):
        assert (await client.post(CHAT, json={"model": "m"})).status == 200
    webhook = client.server.app[keys.TELEMETRY]
    assert (webhook.counters.produced, webhook.counters.dropped, webhook.queued) == (11, 7, 4)
    warnings = [r for r in caplog.records if "telemetry queue full" in r.getMessage()]
    assert len(warnings) == 1  # one line for the whole overflow, not one per event
    receiver.hang.set()
    newest = {r.event_id for r in (await sink.wait_for(10))[-3:]}
    await receiver.wait_for(lambda ev: _ids(ev) >= newest)  # the newest three survive


async def test_the_spill_list_is_bounded_and_the_trimmed_are_counted(
    make_proxy, receiver, redis_target, redis_client
):
    receiver.status = 503
    client = await make_proxy(
        {"default": {"provider": "mock"}},
        TELEMETRY_WEBHOOK_URL=receiver.url,
        **redis_target.env,
        TELEMETRY_QUEUE_SIZE="2",
        TELEMETRY_SPILL_MAX="5",
        **FAST,
    )
    for _ in range(20):
        await client.post(CHAT, json={"model": "m"})
    webhook = client.server.app[keys.TELEMETRY]
    for _ in range(200):  # the spiller pushes between requests
        if webhook.counters.spilled >= 15:
            break
        await asyncio.sleep(0.02)
    c = webhook.counters
    in_list = await redis_client.llen("telemetry:spill")
    assert in_list == 5 and c.dropped == c.spilled - 5 > 0
    assert c.produced == c.delivered + c.dropped + webhook.queued + in_list


async def test_a_sink_is_built_from_its_settings_section(receiver):
    settings = TelemetrySettings(url=receiver.url, batch_max=5, secret="hook-secret")
    async with aiohttp.ClientSession() as session:
        tasks = TaskSet()
        webhook = WebhookSink(
            settings, mode="static", session=session, ids=IdGenerator(), tasks=tasks
        )
        sender = tasks.spawn(webhook.run(), name="telemetry")
        webhook.event("server_start", {"pid": 1})
        await webhook.close(sender, grace_s=2.0)
    (body,) = receiver.bodies
    assert [e["event_type"] for e in orjson.loads(body)] == ["server_start"]  # batch_max > 1
    digest = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    assert receiver.headers[0]["X-Telemetry-Signature"] == "sha256=" + digest
    assert webhook.counters.delivered == 1


async def test_a_section_without_a_url_makes_no_sink():
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="TELEMETRY_WEBHOOK_URL"):
            WebhookSink(
                TelemetrySettings(),
                mode="static",
                session=session,
                ids=IdGenerator(),
                tasks=TaskSet(),
            )
