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
