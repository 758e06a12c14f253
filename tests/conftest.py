"""Fixtures: the real app built from a config document, real upstreams on loopback."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from proxy.app import create_app
from proxy.settings import Settings
from tests.helpers import RecordingSink, Upstream

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[dict[str, Any]], str]:
    def write(doc: dict[str, Any]) -> str:
        path = tmp_path / "proxy.yaml"
        path.write_text(yaml.safe_dump(doc))
        return str(path)

    return write


@pytest.fixture
async def upstream(aiohttp_server: Any) -> Upstream:
    up = Upstream()
    server = await aiohttp_server(up.app())
    up.url = str(server.make_url("")).rstrip("/")
    return up


MakeProxy = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_proxy(
    aiohttp_client: Any, write_config: Callable[[dict[str, Any]], str], sink: RecordingSink
) -> MakeProxy:
    """make_proxy(config_doc, **env) -> a test client of the gateway (static mode)."""

    async def make(doc: dict[str, Any], **env: str) -> TestClient:
        environ = {"PROXY_CONFIG": write_config(doc), "PROXY_REQUEST_LOG": "0", **env}
        app = await create_app(Settings.from_env(environ), sinks=[sink])
        # As in production (proxy.app.create_runner): a client disconnect cancels the handler.
        return await aiohttp_client(app, server_kwargs={"handler_cancellation": True})

    return make


def openai_route(url: str, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {
        "model_name": model,
        "provider": "openai",
        "api_base": url,
        "api_key": "sk-route-key-0001",
        **extra,
    }
