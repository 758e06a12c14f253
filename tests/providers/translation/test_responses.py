"""Whole answers: an Anthropic message as a chat.completion and back, beyond the goldens."""

from __future__ import annotations

import time

import orjson

from proxy.providers.translation.responses import (
    anthropic_message_to_openai_completion,
    openai_completion_to_anthropic_message,
)


def _completion(message: dict, **doc) -> dict:
    body = orjson.dumps({"id": "m1", "content": [], **doc, **message})
    return orjson.loads(anthropic_message_to_openai_completion(body, model="client-model"))


def _message(choice: dict, **doc) -> dict:
    body = orjson.dumps({"id": "c1", "choices": [choice], **doc})
    return orjson.loads(openai_completion_to_anthropic_message(body, model="client-model"))


def test_the_client_model_is_named_and_thinking_blocks_are_left_out():
    before = int(time.time())
    doc = _completion(
        {
            "model": "claude-upstream-name",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "text", "text": "Hel"},
                {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}},
                {"type": "text", "text": "lo"},
            ],
            "stop_reason": "end_turn",
        }
    )
    assert doc["model"] == "client-model" and doc["object"] == "chat.completion"
    assert before <= doc["created"] <= int(time.time())
    assert doc["choices"][0]["message"] == {"role": "assistant", "content": "Hello"}
    assert doc["choices"][0]["finish_reason"] == "stop"


def test_a_refusal_is_content_filter_with_the_refusal_text():
    doc = _completion({"content": [{"type": "text", "text": "I can't."}], "stop_reason": "refusal"})
    message = doc["choices"][0]["message"]
    assert message["refusal"] == message["content"] == "I can't."
    assert doc["choices"][0]["finish_reason"] == "content_filter"


def test_a_tool_use_without_input_is_a_call_with_empty_object_arguments():
    doc = _completion(
        {"content": [{"type": "tool_use", "id": "t1", "name": "now"}], "stop_reason": "tool_use"}
    )
    message = doc["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "now", "arguments": "{}"}}
    ]
    assert doc["usage"]["total_tokens"] == 0  # no usage stated: zeros, never missing


def test_arguments_that_are_not_a_json_object_become_an_empty_input():
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": arguments}}
        for i, arguments in enumerate(["{oops", "[1]", "", '{"a": 1}'])
    ]
    doc = _message({"message": {"role": "assistant", "tool_calls": calls}})
    assert [block["input"] for block in doc["content"]] == [{}, {}, {}, {"a": 1}]
    assert doc["stop_reason"] == "end_turn"  # no finish reason given


def test_an_openai_refusal_is_the_text_and_no_choice_is_an_empty_message():
    doc = _message(
        {"message": {"content": None, "refusal": "No."}, "finish_reason": "content_filter"}
    )
    assert doc["content"] == [{"type": "text", "text": "No."}]
    assert (doc["stop_reason"], doc["model"]) == ("refusal", "client-model")
    empty = orjson.loads(
        openai_completion_to_anthropic_message(b'{"id": "c2", "choices": []}', model="m")
    )
    assert empty["content"] == [] and empty["stop_reason"] == "end_turn"
    assert empty["usage"]["input_tokens"] == 0
