"""OpenAI Chat Completions requests as Anthropic Messages requests: the defaults a client
relies on, and refusals that name the field."""

from __future__ import annotations

import pytest

from proxy.errors import InvalidRequestError, UnsupportedParameterError
from proxy.providers.translation.request_to_anthropic import openai_chat_to_anthropic

HELLO = [{"role": "user", "content": "Hello"}]


def _to_anthropic(**fields):
    return openai_chat_to_anthropic(
        {"model": "m", "messages": HELLO, **fields}, max_tokens_default=4096
    )


def test_anthropic_gets_the_route_default_when_the_client_names_no_max_tokens():
    assert _to_anthropic()["max_tokens"] == 4096
    assert _to_anthropic(max_tokens=50)["max_tokens"] == 50
    assert _to_anthropic(max_tokens=50, max_completion_tokens=70)["max_tokens"] == 70


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"reasoning_effort": "minimal"}, "reasoning_effort"),
        ({"tool_choice": {"type": "allowed_tools", "allowed_tools": {}}}, "tool_choice"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0]"),
        ({"some_future_field": 1}, "some_future_field"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "input_audio",
                                "input_audio": {"data": "UklG", "format": "wav"},
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
                        "content": [{"type": "image_url", "image_url": {"url": "ftp://x/a.png"}}],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        ({"messages": [{"role": "function", "name": "f", "content": "1"}]}, "messages[0].role"),
    ],
)
def test_what_anthropic_cannot_express_is_refused_naming_the_field(fields, param):
    with pytest.raises(UnsupportedParameterError) as refused:
        _to_anthropic(**fields)
    assert refused.value.param == param
    assert (refused.value.status, refused.value.code) == (400, "unsupported_parameter")


def test_harmless_defaults_and_advisory_fields_are_not_refused():
    doc = _to_anthropic(
        n=1, logprobs=False, frequency_penalty=0, seed=3, store=False, service_tier="auto"
    )
    assert set(doc) == {"model", "max_tokens", "messages"}


def test_invalid_tool_call_arguments_in_the_history_are_an_invalid_request():
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
    messages = [*HELLO, {"role": "assistant", "tool_calls": [call]}]
    with pytest.raises(InvalidRequestError) as refused:
        _to_anthropic(messages=messages)
    assert refused.value.param == "messages[1].tool_calls[0].function.arguments"


def test_roles_alternate_and_tool_results_lead_their_user_turn():
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "c"},
        {"role": "tool", "tool_call_id": "t1", "content": "r"},
    ]
    turns = _to_anthropic(messages=messages)["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert [b["type"] for b in turns[2]["content"]] == ["tool_result", "text"]


def test_json_schema_and_tool_choice_map_to_their_anthropic_forms():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    doc = _to_anthropic(
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        tools=[{"type": "function", "function": {"name": "f"}}],
        tool_choice={"type": "function", "function": {"name": "f"}},
    )
    assert doc["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert doc["tool_choice"] == {"type": "tool", "name": "f"}
    assert doc["tools"] == [{"name": "f", "input_schema": {"type": "object", "properties": {}}}]
    assert _to_anthropic(tool_choice="required")["tool_choice"] == {"type": "any"}
    assert _to_anthropic(tool_choice="none")["tool_choice"] == {"type": "none"}


def test_system_and_developer_messages_become_system_blocks_in_order_wherever_they_stand():
    doc = _to_anthropic(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            {"role": "user", "content": "Again"},
        ]
    )
    assert doc["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Use French."},
    ]
    assert doc["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "Again"}],
        }
    ]


def test_stop_user_effort_parallel_calls_and_stream_take_their_anthropic_names():
    tools = [{"type": "function", "function": {"name": "f"}}]
    doc = _to_anthropic(
        stop="END",
        safety_identifier="user-7",
        reasoning_effort="high",
        tools=tools,
        parallel_tool_calls=False,
        stream=True,
        stream_options={"include_usage": True},
        temperature=0.2,
    )
    assert doc["stop_sequences"] == ["END"]
    assert doc["metadata"] == {"user_id": "user-7"}
    assert doc["output_config"] == {"effort": "high"}
    assert doc["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert (doc["stream"], doc["temperature"]) == (True, 0.2)
    assert "stream_options" not in doc  # the proxy's business, not Anthropic's
    assert _to_anthropic(user="u1", safety_identifier="u2")["metadata"] == {"user_id": "u1"}
    assert _to_anthropic(stop=["a", "b"])["stop_sequences"] == ["a", "b"]


def test_messages_that_are_not_a_list_of_objects_are_an_invalid_request():
    for messages, param in (("hi", "messages"), ([["user", "hi"]], "messages[0]")):
        with pytest.raises(InvalidRequestError) as refused:
            _to_anthropic(messages=messages)
        assert refused.value.param == param
