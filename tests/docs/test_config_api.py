"""docs/openapi/config-api.yaml: the Config API contract. The document is valid OpenAPI
3.1; the gateway's own `GET /users/{id}/config` (built-in-store mode) answers every
case as documented; and a gateway in Config-API mode serves tenants from an API that
answers so (here: the first gateway)."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from proxy.app import create_app
from proxy.settings import Settings
from tests.conftest import ENCRYPTION_KEY, bearer
from tests.docs.openapi import document, response_validator, uri
from tests.helpers import GatewayTestServer

CONFIG = "/users/{user_id}/config"
ADMIN = {"Authorization": "Bearer admin-key-for-config-api-tests"}
API_KEY = "config-api-key-for-tests"
FULL = {
    "models": [
        {
            "model_name": "gpt-4o-mini",
            "provider": "openai",
            "api_base": "https://api.openai.com",
            "api_key": "sk-config-api.test-key-0001",
            "upstream_model": "gpt-4o-mini-2024-07-18",
            "input_cost_per_mtok": 0.15,
            "output_cost_per_mtok": 0.6,
            "cached_input_cost_per_mtok": 0.075,
            "timeout_s": 600,
            "retry": {"attempts": 3, "on_status": [429, 503], "backoff_ms": 100, "max_wait_s": 5},
            "breaker": {"failures": 5, "cooldown_s": 30},
            "fallbacks": ["echo"],
        },
        {"model_name": "echo", "provider": "mock", "colour": "unknown fields are kept"},
    ],
    "default": {"provider": "anthropic", "api_base": "https://api.anthropic.com"},
    "budget": {"monthly_usd": 100.0},
    "limits": {"rpm": 600, "tpm": 200000},
    "allowed_models": ["gpt-4o-mini", "echo"],
}
MINIMAL = {"models": [{"model_name": "m", "provider": "mock"}]}


def _check(status: int, body: Any) -> None:
    response_validator("config-api.yaml", CONFIG, "get", status).validate(body)


@pytest.fixture
async def store_gateway(aiohttp_client, tmp_path, sink):
    environ = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/tenants.db",
        "PROXY_ADMIN_KEY": ADMIN["Authorization"].split()[1],
        "CONFIG_API_KEY": API_KEY,
        "PROXY_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "PROXY_REQUEST_LOG": "0",
        "PROXY_GRACEFUL_TIMEOUT": "2",
    }
    app = await create_app(Settings.from_env(environ), sinks=[sink])
    client = await aiohttp_client(GatewayTestServer(app))
    for tenant_id, doc in (("full", FULL), ("minimal", MINIMAL)):
        created = await client.post(
            "/admin/tenants", json={"tenant_id": tenant_id, **doc}, headers=ADMIN
        )
        assert created.status == 201, await created.text()
    return client


def test_the_document_is_valid_openapi_3_1():
    validate(document("config-api.yaml"), base_uri=uri("config-api.yaml"))
    assert document("config-api.yaml")["openapi"].startswith("3.1")


def test_the_documents_example_is_a_valid_answer():
    example = document("config-api.yaml")["paths"][CONFIG]["get"]["responses"]["200"]
    for case in example["content"]["application/json"]["examples"].values():
        _check(200, case["value"])


async def test_the_gateway_serves_documents_as_the_contract_says(store_gateway):
    for tenant_id, doc in (("full", FULL), ("minimal", MINIMAL)):
        for key in (API_KEY, ADMIN["Authorization"].split()[1]):
            resp = await store_gateway.get(
                f"/users/{tenant_id}/config", headers={"Authorization": f"Bearer {key}"}
            )
            assert (resp.status, resp.content_type) == (200, "application/json")
            body = await resp.json()
            _check(200, body)
            assert body == doc  # keys in plain text, unknown fields kept


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/users/nobody/config", {"Authorization": f"Bearer {API_KEY}"}, 404, "config_not_found"),
        ("/users/full/config", {}, 401, "missing_credentials"),
        ("/users/full/config", {"Authorization": "Bearer wrong"}, 401, "invalid_token"),
        ("/users/-bad/config", {"Authorization": f"Bearer {API_KEY}"}, 400, "invalid_user_id"),
    ],
)
async def test_the_gateways_refusals_are_documented(store_gateway, path, headers, status, code):
    resp = await store_gateway.get(path, headers=headers)
    body = await resp.json()
    assert (resp.status, body["error"]["code"]) == (status, code)
    _check(status, body)


async def test_a_config_api_gateway_serves_tenants_from_an_api_that_keeps_the_contract(
    store_gateway, make_mt_proxy
):
    api_url = str(store_gateway.make_url("")).rstrip("/")
    front = await make_mt_proxy(CONFIG_API_URL=api_url, CONFIG_API_KEY=API_KEY)
    chat = {"model": "echo", "messages": [{"role": "user", "content": "Hi"}]}
    answered = await front.post(
        "/users/full/v1/chat/completions", json=chat, headers=bearer("full")
    )
    assert answered.status == 200, await answered.text()
    missing = await front.post(
        "/users/nobody/v1/chat/completions", json=chat, headers=bearer("nobody")
    )
    assert (missing.status, (await missing.json())["error"]["code"]) == (404, "config_not_found")
    ready = await front.get("/readyz")
    assert (await ready.json())["checks"]["config_api"] == "ok"


def test_the_contract_refuses_what_the_gateway_would_not_accept():
    from jsonschema import ValidationError

    for bad in (
        {"models": "gpt-4o"},
        {"models": [{"provider": "openai"}]},
        {"budget": {"monthly_usd": -1}},
    ):
        with pytest.raises(ValidationError):
            _check(200, bad)
