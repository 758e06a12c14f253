"""The in-process mock answers like the providers, with usage, and no network."""

from __future__ import annotations

import base64
import struct

import orjson

from proxy.body import inspect_body
from proxy.providers.mock import MockProvider

CONFIG = {
    "default": {"provider": "mock"},
    "models": [{"model_name": "slow", "provider": "mock", "mock_latency_ms": 50}],
}


async def test_chat_json_with_usage(make_proxy, sink):
    client = await make_proxy(CONFIG)
    resp = await client.post(
        "/v1/chat/completions", json={"model": "gpt-x", "messages": [], "max_tokens": 3}
    )
    doc = await resp.json()
    assert doc["object"] == "chat.completion" and doc["model"] == "gpt-x"
    assert doc["choices"][0]["message"]["content"] == "This is a "
    assert doc["usage"]["completion_tokens"] == 3
    (record,) = await sink.wait_for(1)
    assert (record.provider, record.output_tokens) == ("mock", 3)
    assert record.input_tokens == doc["usage"]["prompt_tokens"]


async def test_chat_stream_has_usage_only_when_asked(make_proxy):
    client = await make_proxy(CONFIG)
    plain = await (
        await client.post("/v1/chat/completions", json={"model": "m", "stream": True})
    ).read()
    assert plain.endswith(b"data: [DONE]\n\n") and b'"usage"' not in plain
    asked = await (
        await client.post(
            "/v1/chat/completions",
            json={"model": "m", "stream": True, "stream_options": {"include_usage": True}},
        )
    ).read()
    events = [orjson.loads(e[6:]) for e in asked.split(b"\n\n") if e.startswith(b"data: {")]
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 7
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert text == "This is a mock response from tenant-proxy."


async def test_embeddings_float_and_base64(make_proxy):
    client = await make_proxy(CONFIG)
    floats = await (
        await client.post("/v1/embeddings", json={"model": "e", "input": ["a", "b"]})
    ).json()
    assert [d["index"] for d in floats["data"]] == [0, 1]
    vector = floats["data"][0]["embedding"]
    encoded = await (
        await client.post(
            "/v1/embeddings", json={"model": "e", "input": "a", "encoding_format": "base64"}
        )
    ).json()
    raw = base64.b64decode(encoded["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(vector)}f", raw)) == vector or all(
        abs(a - b) < 1e-6
        for a, b in zip(struct.unpack(f"<{len(vector)}f", raw), vector, strict=True)
    )


async def test_anthropic_messages_and_responses_shapes(make_proxy, sink):
    client = await make_proxy(CONFIG)
    message = await (
        await client.post("/v1/messages", json={"model": "c", "max_tokens": 9, "messages": []})
    ).json()
    assert message["type"] == "message" and message["content"][0]["type"] == "text"
    stream = await (
        await client.post(
            "/v1/messages", json={"model": "c", "max_tokens": 9, "messages": [], "stream": True}
        )
    ).read()
    assert stream.startswith(b"event: message_start\n") and stream.endswith(
        b'{"type":"message_stop"}\n\n'
    )
    response = await (await client.post("/v1/responses", json={"model": "r", "input": "hi"})).json()
    assert response["object"] == "response" and response["usage"]["output_tokens"] == 7
    records = await sink.wait_for(3)
    assert records[1].output_tokens == 7 and records[1].stream


async def test_latency_and_unknown_endpoints(make_proxy):
    client = await make_proxy(CONFIG)
    resp = await client.post("/v1/chat/completions", json={"model": "slow"})
    upstream_ms = float(resp.headers["Server-Timing"].split("upstream;dur=")[1])
    assert upstream_ms >= 50
    missing = await client.post("/v1/images/generations", json={"model": "m"})
    assert missing.status == 404
    assert "mock provider does not serve" in (await missing.json())["error"]["message"]


def test_the_mock_numbers_its_answers_and_names_the_model_it_was_given():
    mock = MockProvider(clock=lambda: 1_700_000_000.0)
    body = inspect_body(b'{"model":"m"}', "application/json")
    first = orjson.loads(mock.reply("/v1/chat/completions", body, "up-model").body)
    second = orjson.loads(mock.reply("/v1/messages", body, None).body)
    assert (first["id"], first["model"], first["created"]) == (
        "chatcmpl-mock1",
        "up-model",
        1700000000,
    )
    assert (second["id"], second["model"]) == ("msg_mock2", "mock")
    assert mock.reply("/v1/audio/speech", body, "m").status == 404
