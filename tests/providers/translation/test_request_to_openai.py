"""Anthropic Messages requests as OpenAI Chat Completions requests: the defaults a client
relies on, and refusals that name the field."""

from __future__ import annotations

import pytest

from proxy.errors import UnsupportedParameterError
from proxy.providers.translation.request_to_openai import anthropic_messages_to_openai_chat

HELLO = [{"role": "user", "content": "Hello"}]


def _to_openai(**fields):
    return anthropic_messages_to_openai_chat(
        {"model": "m", "max_tokens": 9, "messages": HELLO, **fields}
    )


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"top_k": 5}, "top_k"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, "thinking"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0]"),
        ({"output_config": {"effort": "max"}}, "output_config.effort"),
        ({"mcp_servers": []}, "mcp_servers"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "document",
                                "source": {"type": "text", "media_type": "text/plain", "data": "x"},
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "t",
                                "content": [
                                    {
                                        "type": "image",
                                        "source": {"type": "url", "url": "https://x/a.png"},
                                    }
                                ],
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0].content[0]",
        ),
    ],
)
def test_what_openai_cannot_express_is_refused_naming_the_field(fields, param):
    with pytest.raises(UnsupportedParameterError) as refused:
        _to_openai(**fields)
    assert refused.value.param == param


def test_openai_upstream_is_always_asked_for_stream_usage():
    doc = _to_openai(stream=True, thinking={"type": "disabled"})
    assert doc["stream_options"] == {"include_usage": True}
    assert "stream_options" not in _to_openai()


def test_tool_choice_maps_to_its_openai_forms():
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    assert _to_openai(tools=tools, tool_choice={"type": "tool", "name": "f"})["tool_choice"] == {
        "type": "function",
        "function": {"name": "f"},
    }
    assert _to_openai(tool_choice={"type": "none"})["tool_choice"] == "none"
    assert "parallel_tool_calls" not in _to_openai(
        tool_choice={"type": "auto", "disable_parallel_tool_use": True}
    )  # OpenAI refuses parallel_tool_calls without tools


def test_system_blocks_join_and_tool_results_come_before_the_rest_of_their_turn():
    doc = _to_openai(
        system=[{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}],
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "tool_use", "id": "t1", "name": "w", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "and?"},
                    {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
                ],
            },
        ],
    )
    assert [m["role"] for m in doc["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assert doc["messages"][0]["content"] == "One.\n\nTwo."
    assert doc["messages"][2] == {
        "role": "assistant",
        "content": None,  # the thinking block is dropped
        "tool_calls": [
            {
                "id": "t1",
                "type": "function",
                "function": {"name": "w", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert doc["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "sunny"}


def test_max_tokens_stop_user_effort_and_parallel_calls_take_their_openai_names():
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    doc = _to_openai(
        stop_sequences=["END"],
        metadata={"user_id": "user-7"},
        output_config={"effort": "low"},
        tools=tools,
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        service_tier="auto",
    )
    assert doc["max_completion_tokens"] == 9
    assert (doc["stop"], doc["user"], doc["reasoning_effort"]) == (["END"], "user-7", "low")
    assert (doc["tool_choice"], doc["parallel_tool_calls"]) == ("required", False)
    assert "service_tier" not in doc
