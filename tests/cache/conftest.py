"""A redis-server of the test's own, for outages the shared one must never see."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import OwnRedis


@pytest.fixture
async def own_redis():
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = OwnRedis()
    await server.start()
    yield server
    await server.stop()
