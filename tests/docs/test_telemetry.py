"""docs/telemetry.md: its signature recipes (Python and Node) accept a batch signed by
the gateway's own webhook sender, and refuse a changed body, another secret and a
missing header. The recipes are run as the page prints them."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
from asyncio.subprocess import PIPE

import pytest

from tests.docs.openapi import DOCS

PAGE = (DOCS / "telemetry.md").read_text()
SECRET = "whsec.docs-recipe-test"
CHAT = "/v1/chat/completions"


def recipe(language: str) -> str:
    found = re.search(rf"<!-- recipe: {language} -->\n```\w+\n(.*?)```", PAGE, re.S)
    assert found, f"docs/telemetry.md has no {language} recipe"
    return found.group(1)


@pytest.fixture
async def signed_batch(make_proxy, receiver) -> tuple[bytes, str]:
    """A real batch: the gateway's webhook sender, signing with SECRET."""
    client = await make_proxy(
        {"default": {"provider": "mock"}},
        TELEMETRY_WEBHOOK_URL=receiver.url,
        TELEMETRY_WEBHOOK_SECRET=SECRET,
        TELEMETRY_BATCH_MAX="10",
        PROXY_GRACEFUL_TIMEOUT="1",
        TELEMETRY_MAX_BACKOFF="0.05",
    )
    for _ in range(3):
        await client.post(
            CHAT, json={"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
        )
    await receiver.wait_for(
        lambda events: any(e["event_type"] == "request_processed" for e in events)
    )
    for body, headers in zip(receiver.bodies, receiver.headers, strict=True):
        if b"request_processed" in body:
            assert isinstance(json.loads(body), list)
            return body, headers["X-Telemetry-Signature"]
    raise AssertionError("no batch with a request_processed event")


def _cases(body: bytes, header: str) -> list[tuple[bytes, str | None, str, bool]]:
    """(body, header, secret, expected) for the recipes."""
    return [
        (body, header, SECRET, True),
        (body.replace(b'"status"', b'"Status"', 1), header, SECRET, False),
        (body + b" ", header, SECRET, False),
        (body, header, SECRET + "x", False),
        (body, None, SECRET, False),
        (body, header.upper(), SECRET, False),
    ]


async def test_the_python_recipe(signed_batch):
    body, header = signed_batch
    namespace: dict = {}
    exec(recipe("python"), namespace)
    verify = namespace["verify"]
    results = [verify(b, h, s.encode()) for b, h, s, _ in _cases(body, header)]
    assert results == [expected for *_, expected in _cases(body, header)]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_the_node_recipe(signed_batch, tmp_path):
    body, header = signed_batch
    harness = recipe("node") + (
        "\nconst cases = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));\n"
        "console.log(JSON.stringify(cases.map(([b, h, s]) =>"
        " verify(Buffer.from(b, 'base64'), h, s))));\n"
    )
    script = tmp_path / "verify.js"
    script.write_text(harness)
    cases = [[base64.b64encode(b).decode(), h, s] for b, h, s, _ in _cases(body, header)]
    node = await asyncio.create_subprocess_exec(
        "node", str(script), stdin=PIPE, stdout=PIPE, stderr=PIPE
    )
    out, err = await node.communicate(json.dumps(cases).encode())
    assert node.returncode == 0, err.decode()
    assert json.loads(out) == [expected for *_, expected in _cases(body, header)]
