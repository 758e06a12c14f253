"""Multi-tenant config resolution through the real app, Redis and a loopback Config API."""

from __future__ import annotations

import asyncio
from collections import Counter
from urllib.parse import urlsplit

import orjson
import pytest
from aiohttp import web

from proxy import keys
from proxy.keyring import KeyRing
from tests.conftest import ENCRYPTION_KEY, REDIS_TEST_URL, bearer, openai_route, tenant_doc
from tests.helpers import TCPRelay, Upstream, raw_request

CHAT = "/v1/chat/completions"


def chat(user: str) -> str:
    return f"/users/{user}{CHAT}"


async def test_each_tenant_is_routed_by_its_own_config(
    make_mt_proxy, config_api, upstream, aiohttp_server
):
    other = Upstream()
    other_server = await aiohttp_server(other.app())
    config_api.docs["alice"] = tenant_doc(upstream.url, key="sk-alice-key-0001")
    config_api.docs["bob"] = tenant_doc(
        str(other_server.make_url("")).rstrip("/"), key="sk-bob-key-00002"
    )
    client = await make_mt_proxy()
    for user in ("alice", "bob"):
        resp = await client.post(
            chat(user) + "?q=1", json={"model": "gpt-4o-mini"}, headers=bearer(user)
        )
        assert resp.status == 200
    (a,), (b,) = upstream.seen, other.seen
    assert (a.path, a.query, a.headers["authorization"]) == (
        CHAT,
        "q=1",
        "Bearer sk-alice-key-0001",
    )
    assert (b.path, b.headers["authorization"]) == (CHAT, "Bearer sk-bob-key-00002")


async def test_l1_then_l2_then_api_and_the_redis_ttl(
    make_mt_proxy, config_api, upstream, redis_client, sink
):
    config_api.docs["carol"] = tenant_doc(upstream.url)
    first = await make_mt_proxy(CONFIG_CACHE_TTL="1234")
    for _ in range(3):
        assert (
            await first.post(chat("carol"), json={"model": "gpt-4o-mini"}, headers=bearer("carol"))
        ).status == 200
    assert config_api.calls == {"carol": 1}  # one miss, then L1 hits
    shown = await (await first.get("/metrics")).text()
    assert 'tenant_proxy_config_lookups_total{result="l1_hit"} 2.0' in shown
    assert 'tenant_proxy_config_lookups_total{result="miss"} 1.0' in shown
    ttl = await redis_client.ttl("config:carol")
    assert 1200 < ttl <= 1234
    second = await make_mt_proxy()  # another worker: empty L1, warm Redis
    assert (
        await second.post(chat("carol"), json={"model": "gpt-4o-mini"}, headers=bearer("carol"))
    ).status == 200
    assert config_api.calls == {"carol": 1}
    metrics = await (await second.get("/metrics")).text()
    assert 'tenant_proxy_config_lookups_total{result="l2_hit"} 1.0' in metrics
    (record, *_) = sink.records
    assert record.tenant == "carol"


async def test_concurrent_first_requests_make_one_config_api_call(
    make_mt_proxy, config_api, upstream
):
    config_api.docs["dave"] = tenant_doc(upstream.url)
    config_api.hold = asyncio.Event()  # keep the first fetch in flight while all arrive
    client = await make_mt_proxy()
    headers = bearer("dave")
    requests = [
        asyncio.ensure_future(
            client.post(chat("dave"), json={"model": "gpt-4o-mini"}, headers=headers)
        )
        for _ in range(100)
    ]
    await config_api.entered.wait()
    config_api.hold.set()
    responses = await asyncio.gather(*requests)
    assert [r.status for r in responses] == [200] * 100
    assert config_api.calls == {"dave": 1}


async def test_invalidation_reaches_another_instance_through_pubsub(
    make_mt_proxy, config_api, upstream, aiohttp_server, redis_client
):
    moved = Upstream()
    moved_server = await aiohttp_server(moved.app())
    config_api.docs["erin"] = tenant_doc(upstream.url)
    a, b = await make_mt_proxy(), await make_mt_proxy()
    await _until_subscribed(a)
    await _until_subscribed(b)
    for client in (a, b):
        assert (
            await client.post(chat("erin"), json={"model": "gpt-4o-mini"}, headers=bearer("erin"))
        ).status == 200
    dropped_on_b = asyncio.Event()
    subscriber_b = b.app[keys.INVALIDATION]
    deliver = subscriber_b._on_invalidate
    subscriber_b._on_invalidate = lambda user: (deliver(user), dropped_on_b.set())  # observe it

    config_api.docs["erin"] = tenant_doc(str(moved_server.make_url("")).rstrip("/"))
    resp = await a.delete(
        "/admin/cache/users/erin", headers={"Authorization": "Bearer admin-key-for-tests"}
    )
    assert resp.status == 204
    assert await redis_client.get("config:erin") is None
    await asyncio.wait_for(dropped_on_b.wait(), 5)
    assert (
        await b.post(chat("erin"), json={"model": "gpt-4o-mini"}, headers=bearer("erin"))
    ).status == 200
    assert len(moved.seen) == 1  # b now routes by the new document


async def _until_subscribed(client, subscribed: bool = True) -> None:
    subscriber = client.app[keys.INVALIDATION]
    for _ in range(100):  # the subscription comes up (or is found lost) in the background
        if subscriber.subscribed is subscribed:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("config-invalidate subscription " + ("missing" if subscribed else "kept"))


async def test_invalidation_wins_against_a_fetch_in_flight(
    make_mt_proxy, config_api, upstream, redis_client
):
    old_doc = tenant_doc(upstream.url, key="sk-old-key-000001")
    config_api.docs["frank"] = old_doc
    config_api.hold = asyncio.Event()
    client = await make_mt_proxy()
    slow = asyncio.ensure_future(
        client.post(chat("frank"), json={"model": "gpt-4o-mini"}, headers=bearer("frank"))
    )
    await config_api.entered.wait()  # the API has read the old document and is answering slowly
    config_api.docs["frank"] = tenant_doc(upstream.url, key="sk-new-key-000002")
    resp = await client.delete(
        "/admin/cache/users/frank", headers={"Authorization": "Bearer admin-key-for-tests"}
    )
    assert resp.status == 204
    config_api.hold.set()
    assert (await slow).status == 200  # served with what it fetched
    assert await redis_client.get("config:frank") is None  # but the old document was not cached
    await client.post(chat("frank"), json={"model": "gpt-4o-mini"}, headers=bearer("frank"))
    assert config_api.calls == {"frank": 2}
    assert upstream.seen[-1].headers["authorization"] == "Bearer sk-new-key-000002"


async def test_documents_with_keys_are_sealed_at_rest(
    make_mt_proxy, config_api, upstream, redis_client
):
    config_api.docs["gina"] = tenant_doc(upstream.url, key="sk-secret-at-rest-1234")
    config_api.docs["hank"] = {"default": {"provider": "mock"}}
    client = await make_mt_proxy()
    for user in ("gina", "hank"):
        assert (
            await client.post(chat(user), json={"model": "gpt-4o-mini"}, headers=bearer(user))
        ).status == 200
    sealed = await redis_client.get("config:gina")
    assert sealed.startswith(b"enc:v1:default:") and b"sk-secret-at-rest" not in sealed
    import base64

    ring = KeyRing((("default", base64.b64decode(ENCRYPTION_KEY)),))
    assert orjson.loads(ring.open(sealed, "gina")) == config_api.docs["gina"]
    assert (
        orjson.loads(await redis_client.get("config:hank")) == config_api.docs["hank"]
    )  # no key: plain JSON


async def test_without_an_encryption_key_keys_never_reach_redis(
    make_mt_proxy, config_api, upstream, redis_client
):
    config_api.docs["ivan"] = tenant_doc(upstream.url)
    client = await make_mt_proxy(PROXY_ENCRYPTION_KEY="")
    for _ in range(2):
        assert (
            await client.post(chat("ivan"), json={"model": "gpt-4o-mini"}, headers=bearer("ivan"))
        ).status == 200
    assert await redis_client.get("config:ivan") is None
    assert config_api.calls == {"ivan": 1}  # still cached in L1


async def test_config_api_answers_map_to_errors(make_mt_proxy, config_api, upstream, caplog):
    config_api.docs["bad"] = {
        "models": [{"model_name": "m", "provider": "openai", "api_key": "sk-x"}]
    }
    client = await make_mt_proxy(CONFIG_API_TIMEOUT="0.3")
    unknown = await client.post(chat("nobody"), json={"model": "m"}, headers=bearer("nobody"))
    assert unknown.status == 404
    assert (await unknown.json())["error"]["code"] == "config_not_found"
    invalid = await client.post(chat("bad"), json={"model": "m"}, headers=bearer("bad"))
    assert invalid.status == 500
    body = await invalid.json()
    assert body["error"]["code"] == "config_invalid" and "api_base" not in body["error"]["message"]
    problems = [getattr(r, "problem", "") for r in caplog.records]
    assert any("models[0].api_base" in p for p in problems)  # the field is named in the log
    config_api.status = 502
    down = await client.post(chat("someone"), json={"model": "m"}, headers=bearer("someone"))
    assert down.status == 503
    assert (await down.json())["error"] == {
        "message": "The configuration service is unavailable.",
        "type": "service_unavailable",
        "code": "config_unavailable",
        "param": None,
    }
    config_api.status = None
    config_api.hold = asyncio.Event()  # never released: the API hangs
    hung = await client.post(chat("slowpoke"), json={"model": "m"}, headers=bearer("slowpoke"))
    assert hung.status == 503
    config_api.hold.set()


async def test_a_refused_config_api_is_a_503(make_mt_proxy):
    from tests.helpers import free_port

    client = await make_mt_proxy(CONFIG_API_URL=f"http://127.0.0.1:{free_port()}")
    resp = await client.post(chat("x1"), json={"model": "m"}, headers=bearer("x1"))
    assert resp.status == 503


async def test_config_api_key_is_sent_when_set(make_mt_proxy, config_api, upstream):
    config_api.docs["judy"] = tenant_doc(upstream.url)
    client = await make_mt_proxy(CONFIG_API_KEY="cfg-api-key-123")
    await client.post(chat("judy"), json={"model": "gpt-4o-mini"}, headers=bearer("judy"))
    assert config_api.auth_headers == ["Bearer cfg-api-key-123"]


async def test_invalid_user_ids_are_400_before_any_io(make_mt_proxy, config_api):
    client = await make_mt_proxy(AUTH_MODE="none")
    base = str(client.make_url("")).rstrip("/")
    # Traversals and encoded slashes in the id are `invalid_path` (tests/api/test_paths.py).
    for user in ("-lead", "x" * 129, "sp%20ace", "a%252fb", "_x", "a:b"):
        status, body = await raw_request(base, f"/users/{user}{CHAT}")  # no client normalisation
        assert status == 400, user
        assert orjson.loads(body)["error"]["code"] == "invalid_user_id"
    assert config_api.calls == {}


async def test_static_paths_are_not_served_in_multi_tenant_mode(make_mt_proxy):
    client = await make_mt_proxy()
    resp = await client.post(CHAT, json={"model": "m"})
    assert resp.status == 404
    assert "/users/{user_id}/v1/" in (await resp.json())["error"]["message"]


async def test_readyz_reports_redis_and_the_config_api(make_mt_proxy, config_api):
    client = await make_mt_proxy()
    ready = await client.get("/readyz")
    assert (ready.status, await ready.json()) == (
        200,
        {"status": "ready", "mode": "multi_tenant", "checks": {"redis": "ok", "config_api": "ok"}},
    )
    from tests.helpers import free_port

    broken = await make_mt_proxy(CONFIG_API_URL=f"http://127.0.0.1:{free_port()}")
    down = await broken.get("/readyz")
    assert down.status == 503
    assert (await down.json())["checks"] == {"redis": "ok", "config_api": "unreachable"}


async def test_models_list_comes_from_the_tenant_config(make_mt_proxy, config_api, upstream):
    config_api.docs["kim"] = {
        "models": [openai_route(upstream.url), {"model_name": "m2", "provider": "mock"}]
    }
    client = await make_mt_proxy()
    listing = await (await client.get("/users/kim/v1/models", headers=bearer("kim"))).json()
    assert [m["id"] for m in listing["data"]] == ["gpt-4o-mini", "m2"]


async def test_redis_down_does_not_fail_requests(make_mt_proxy, config_api, upstream):
    from tests.helpers import free_port

    config_api.docs["lena"] = tenant_doc(upstream.url)
    client = await make_mt_proxy(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    for _ in range(3):
        resp = await client.post(
            chat("lena"), json={"model": "gpt-4o-mini"}, headers=bearer("lena")
        )
        assert resp.status == 200
    ready = await (await client.get("/readyz")).json()
    assert ready["checks"]["redis"] == "unreachable"


async def test_a_frozen_redis_costs_at_most_its_timeout(make_mt_proxy, config_api, upstream):
    accepted: list[asyncio.StreamWriter] = []

    async def frozen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accepts, reads nothing, answers nothing

    server = await asyncio.start_server(frozen, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config_api.docs["mona"] = tenant_doc(upstream.url)
    try:
        client = await make_mt_proxy(REDIS_URL=f"redis://127.0.0.1:{port}/0", REDIS_TIMEOUT="0.2")
        loop = asyncio.get_running_loop()
        for user in ("mona", "mona"):
            started = loop.time()
            resp = await client.post(
                chat(user), json={"model": "gpt-4o-mini"}, headers=bearer(user)
            )
            assert resp.status == 200
            assert loop.time() - started < 1.0  # one Redis timeout at most, then the gate is shut
        assert accepted  # Redis really was contacted
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_route_to_a_private_address_is_refused_without_allow_private(
    make_mt_proxy, config_api, upstream
):
    config_api.docs["nina"] = tenant_doc(upstream.url)  # upstream listens on 127.0.0.1
    client = await make_mt_proxy(UPSTREAM_ALLOW_PRIVATE="0")
    resp = await client.post(chat("nina"), json={"model": "gpt-4o-mini"}, headers=bearer("nina"))
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "upstream_forbidden"
    assert upstream.seen == []


async def test_provider_key_header_and_anthropic_routes_work_per_tenant(
    make_mt_proxy, config_api, upstream
):
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(
            {"type": "message", "usage": {"input_tokens": 3, "output_tokens": 2}}
        )

    upstream.handler = answer
    config_api.docs["olga"] = {
        "models": [{"model_name": "claude", "provider": "anthropic", "api_base": upstream.url}]
    }
    client = await make_mt_proxy()
    resp = await client.post(
        "/users/olga/v1/messages",
        json={"model": "claude", "max_tokens": 5, "messages": []},
        headers={**bearer("olga"), "X-Provider-API-Key": "sk-ant-byok-77"},
    )
    assert resp.status == 200
    assert upstream.seen[0].headers["x-api-key"] == "sk-ant-byok-77"
    assert "authorization" not in upstream.seen[0].headers  # the client's JWT stays here


@pytest.fixture
async def redis_relay(redis_client):
    """The test Redis behind a relay the test can cut; yields (relay, REDIS_URL through it)."""
    target = urlsplit(REDIS_TEST_URL)
    relay = TCPRelay(target.hostname or "127.0.0.1", target.port or 6379)
    await relay.start()
    yield relay, f"redis://127.0.0.1:{relay.port}{target.path}"
    await relay.cut()


async def _warm(client, config_api, users) -> None:
    for user in users:
        config_api.docs[user] = {"default": {"provider": "mock"}}
    await _until_subscribed(client)
    assert list(await _chat_load(client, users, 0.2)) == [200]


async def _cut(client, relay) -> None:
    await relay.cut()
    await _until_subscribed(client, False)  # the worker has noticed


async def _chat_load(client, users, seconds: float, concurrency: int = 32) -> Counter[int]:
    """Requests from `concurrency` clients, round-robin over the tenants, for `seconds`."""
    headers = {user: bearer(user) for user in users}
    statuses: Counter[int] = Counter()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def one_client(n: int) -> None:
        while loop.time() < deadline:
            user = users[n % len(users)]
            n += 1
            resp = await client.post(chat(user), json={"model": "m"}, headers=headers[user])
            await resp.read()
            statuses[resp.status] += 1

    await asyncio.gather(*(one_client(n) for n in range(concurrency)))
    return statuses


@pytest.mark.one_redis  # cut through a relay
async def test_redis_and_the_config_api_down_together_cost_warm_tenants_nothing(
    make_mt_proxy, config_api, redis_relay
):
    relay, redis_url = redis_relay
    users = [f"warm{i:02d}" for i in range(20)]
    client = await make_mt_proxy(REDIS_URL=redis_url, CONFIG_DEGRADED_TTL="0.2")
    await _warm(client, config_api, users)
    config_api.status = 503  # the Config API goes first, then Redis
    await _cut(client, relay)
    before = config_api.total_calls()
    seconds = 2.0
    statuses = await _chat_load(client, users, seconds)
    refreshes = config_api.total_calls() - before
    print(f"\nRedis + Config API down, {len(users)} warm tenants, {seconds} s: {dict(statuses)}")
    assert list(statuses) == [200]  # every answer, from the stale entries
    assert refreshes >= len(users)  # each entry really was refreshed, and the refresh failed
    assert refreshes <= len(users) * (seconds / 0.2 + 1)  # retried per CONFIG_DEGRADED_TTL


@pytest.mark.one_redis  # cut through a relay
async def test_a_redis_outage_costs_the_config_api_one_call_per_tenant_per_degraded_ttl(
    make_mt_proxy, config_api, redis_relay
):
    relay, redis_url = redis_relay
    users = [f"busy{i:02d}" for i in range(20)]
    client = await make_mt_proxy(REDIS_URL=redis_url, CONFIG_DEGRADED_TTL="2")
    await _warm(client, config_api, users)
    await _cut(client, relay)
    config_api.calls.clear()
    seconds = 4.0
    statuses = await _chat_load(client, users, seconds)
    per_tenant = [config_api.calls.get(user, 0) for user in users]
    rate = sum(per_tenant) / len(users) / seconds
    print(
        f"\nRedis down, {len(users)} tenants, {seconds} s: {dict(statuses)}; Config API calls "
        f"per tenant {min(per_tenant)}..{max(per_tenant)} ({rate:.2f}/tenant/s)"
    )
    assert list(statuses) == [200]
    assert min(per_tenant) >= 1  # Redis really is out of the path: entries refresh from the API
    assert max(per_tenant) <= seconds / 2 + 1


async def test_a_config_api_document_with_an_unknown_fallback_is_config_invalid(
    make_mt_proxy, config_api, upstream, caplog
):
    doc = tenant_doc(upstream.url)
    doc["models"][0]["fallbacks"] = ["nope"]
    config_api.docs["fb"] = doc
    client = await make_mt_proxy()
    resp = await client.post(chat("fb"), json={"model": "gpt-4o-mini"}, headers=bearer("fb"))
    assert resp.status == 500 and (await resp.json())["error"]["code"] == "config_invalid"
    problems = [getattr(r, "problem", "") for r in caplog.records]
    assert any("models[0].fallbacks[0]" in p for p in problems)
    assert upstream.seen == []
