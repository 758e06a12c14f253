"""The official SDKs parse every translated answer, plain, streamed and with tools.

Through the real gateway: each SDK talks to a route of the other format, whose
loopback upstream speaks only its own format and answers golden payloads (streams
cut every 37 bytes, wherever that falls); the gateway translates the request, the
answer and each stream event as it arrives.
"""

from __future__ import annotations

import orjson
import pytest
from aiohttp import web
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI

from tests.providers.translation.golden import chunked, raw

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["location", "unit"],
        "additionalProperties": False,
    },
}
OPENAI_WEATHER = {
    "type": "function",
    "function": {
        "name": WEATHER["name"],
        "description": WEATHER["description"],
        "parameters": WEATHER["input_schema"],
        "strict": True,
    },
}
QUESTION = [{"role": "user", "content": "Weather in Paris and Tokyo?"}]


async def _stream(request: web.Request, upstream: bytes) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for piece in chunked(upstream, 37):
        await response.write(piece)
    await response.write_eof()
    return response


async def _anthropic_upstream(request: web.Request) -> web.StreamResponse:
    """Anthropic's Messages API, answering golden payloads; only its own format."""
    assert request.path == "/v1/messages" and request.headers["x-api-key"] == "sk-ant-up"
    doc = orjson.loads(await request.read())
    assert doc["model"] == "claude-sonnet-4" and doc["max_tokens"] > 0  # renamed, required
    kind = "tool_use" if doc.get("tools") else "text"
    if doc.get("stream"):
        return await _stream(request, raw(f"streams/anthropic_{kind}.sse"))
    body = raw(f"responses/anthropic_message_{kind}.json")
    return web.Response(body=body, content_type="application/json")


async def _openai_upstream(request: web.Request) -> web.StreamResponse:
    """OpenAI's Chat Completions API, answering golden payloads; only its own format."""
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-oai-up"
    doc = orjson.loads(await request.read())
    kind = "tool_calls" if doc.get("tools") else "text"
    if doc.get("stream"):
        assert doc["stream_options"] == {"include_usage": True}
        return await _stream(request, raw(f"streams/openai_{kind}.sse"))
    body = raw(f"responses/openai_completion_{kind}.json")
    return web.Response(body=body, content_type="application/json")


@pytest.fixture
async def gateway(aiohttp_server, make_proxy):
    """The real gateway: `claude-sonnet` on an Anthropic upstream, `gpt-4o` on an
    OpenAI one; each SDK talks to the route of the other format."""
    anthropic, openai = web.Application(), web.Application()
    anthropic.router.add_route("*", "/{tail:.*}", _anthropic_upstream)
    openai.router.add_route("*", "/{tail:.*}", _openai_upstream)
    anthropic_url = str((await aiohttp_server(anthropic)).make_url("")).rstrip("/")
    openai_url = str((await aiohttp_server(openai)).make_url("")).rstrip("/")
    client = await make_proxy(
        {
            "models": [
                {"model_name": "claude-sonnet", "provider": "anthropic", "api_base": anthropic_url,
                 "api_key": "sk-ant-up", "upstream_model": "claude-sonnet-4"},
                {"model_name": "gpt-4o", "provider": "openai", "api_base": openai_url,
                 "api_key": "sk-oai-up"},
            ]
        }
    )  # fmt: skip
    return str(client.make_url("")).rstrip("/")


@pytest.fixture
async def openai_client(gateway):
    async with AsyncOpenAI(base_url=gateway + "/v1", api_key="k", max_retries=0) as client:
        yield client


@pytest.fixture
async def anthropic_client(gateway):
    async with AsyncAnthropic(base_url=gateway, api_key="k", max_retries=0) as client:
        yield client


async def test_openai_sdk_reads_an_anthropic_answer(openai_client):
    chat = await openai_client.chat.completions.create(model="claude-sonnet", messages=QUESTION)
    assert chat.choices[0].message.content == "Hi! My name is Claude."
    assert chat.choices[0].finish_reason == "stop" and chat.model == "claude-sonnet"
    assert (chat.usage.prompt_tokens, chat.usage.completion_tokens) == (2095, 503)
    assert chat.usage.total_tokens == 2598


async def test_openai_sdk_reads_anthropic_tool_use(openai_client):
    chat = await openai_client.chat.completions.create(
        model="claude-sonnet", messages=QUESTION, tools=[OPENAI_WEATHER], tool_choice="required"
    )
    (call,) = chat.choices[0].message.tool_calls
    assert (call.id, call.function.name) == ("toolu_01A09q90qw90lq917835lq9", "get_weather")
    assert orjson.loads(call.function.arguments) == {"location": "Paris, France", "unit": "celsius"}
    assert chat.choices[0].finish_reason == "tool_calls"
    assert chat.usage.prompt_tokens_details.cached_tokens == 1500


async def test_openai_sdk_streams_anthropic_text_with_usage_only_when_asked(openai_client):
    for asked in (False, True):
        options = {"stream_options": {"include_usage": True}} if asked else {}
        stream = await openai_client.chat.completions.create(
            model="claude-sonnet", messages=QUESTION, stream=True, **options
        )
        chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Hello!"
        usage = [c.usage for c in chunks if c.usage]
        assert [(u.prompt_tokens, u.completion_tokens) for u in usage] == (
            [(25, 15)] if asked else []
        )


async def test_openai_stream_helper_accumulates_anthropic_tool_use(openai_client):
    async with openai_client.chat.completions.stream(
        model="claude-sonnet",
        messages=QUESTION,
        tools=[OPENAI_WEATHER],
        stream_options={"include_usage": True},
    ) as stream:
        final = await stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Okay, let's check the weather."
    assert [c.function.parsed_arguments for c in message.tool_calls] == [
        {"location": "Paris, France"},
        {"location": "Tokyo, Japan", "unit": "celsius"},
    ]
    assert [c.id for c in message.tool_calls] == [
        "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "toolu_01ZyzAbc34qAmk2tNTrN7Up7",
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert (final.usage.prompt_tokens, final.usage.prompt_tokens_details.cached_tokens) == (
        1496,
        1024,
    )


async def test_anthropic_sdk_reads_an_openai_answer(anthropic_client):
    message = await anthropic_client.messages.create(
        model="gpt-4o", max_tokens=10, messages=QUESTION
    )
    assert message.content[0].text == "Hello! How can I assist you today?"
    assert message.stop_reason == "max_tokens" and message.model == "gpt-4o"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (19, 10)


async def test_anthropic_sdk_reads_openai_tool_calls(anthropic_client):
    message = await anthropic_client.messages.create(
        model="gpt-4o", max_tokens=256, messages=QUESTION, tools=[WEATHER]
    )
    text, first, second = message.content
    assert text.text == "Let me check."
    assert (first.id, first.name, first.input) == (
        "call_abc123",
        "get_weather",
        {"location": "Boston, MA"},
    )
    assert second.input == {"location": "Paris, France", "unit": "celsius"}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (18, 64)


async def test_anthropic_sdk_streams_openai_text(anthropic_client):
    stream = await anthropic_client.messages.create(
        model="gpt-4o", max_tokens=256, messages=QUESTION, stream=True
    )
    events = [event async for event in stream]
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == "Hello there!"
    assert [e.type for e in events][-2:] == ["message_delta", "message_stop"]


async def test_anthropic_stream_helper_accumulates_openai_tool_calls(anthropic_client):
    async with anthropic_client.messages.stream(
        model="gpt-4o", max_tokens=256, messages=QUESTION, tools=[WEATHER]
    ) as stream:
        message = await stream.get_final_message()
    text, paris, tokyo = message.content
    assert text.text == "Let me check both."
    assert (paris.id, paris.input) == (
        "call_DdmO9pD3xa9XTPNJ32zg2hcA",
        {"location": "Paris, France"},
    )
    assert tokyo.input == {"location": "Tokyo, Japan", "unit": "celsius"}
    assert message.stop_reason == "tool_use"
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (
        176,
        1024,
        41,
    )
