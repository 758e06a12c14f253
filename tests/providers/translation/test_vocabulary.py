"""Finish reasons and usage blocks, mapped each way with SPEC 13's token conventions."""

from __future__ import annotations

import pytest

from proxy.providers.translation.vocabulary import (
    anthropic_usage,
    finish_reason,
    openai_usage,
    stop_reason,
    usage_of_anthropic,
    usage_of_openai,
)
from proxy.streaming.usage import Usage


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, "stop"),
        ("a_reason_from_next_year", "stop"),
    ],
)
def test_an_anthropic_stop_reason_is_an_openai_finish_reason(stop, finish):
    assert finish_reason(stop) == finish


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
        ("a_reason_from_next_year", "end_turn"),
    ],
)
def test_an_openai_finish_reason_is_an_anthropic_stop_reason(finish, stop):
    assert stop_reason(finish) == stop


def test_openai_finish_reasons_survive_a_round_trip():
    for reason in ("stop", "length", "tool_calls", "content_filter"):
        assert finish_reason(stop_reason(reason)) == reason


def test_anthropic_input_tokens_exclude_cache_reads_and_writes_openai_prompt_tokens_count_them():
    block = {
        "input_tokens": 10,
        "output_tokens": 7,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 5,
    }
    usage = usage_of_anthropic(block)
    assert usage == Usage(115, 7, 100)
    assert openai_usage(usage) == {
        "prompt_tokens": 115,
        "completion_tokens": 7,
        "total_tokens": 122,
        "prompt_tokens_details": {"cached_tokens": 100},
    }
    assert usage_of_anthropic({"output_tokens": 3}) == Usage(None, 3, 0)  # input not stated yet


def test_an_openai_usage_block_becomes_anthropic_usage_and_back():
    block = {
        "prompt_tokens": 115,
        "completion_tokens": 7,
        "total_tokens": 122,
        "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 5},
    }
    anthropic = anthropic_usage(block)
    assert anthropic == {
        "input_tokens": 10,
        "output_tokens": 7,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 5,
    }
    assert usage_of_anthropic(dict(anthropic)) == usage_of_openai(block) == Usage(115, 7, 100)


def test_missing_or_inconsistent_counts_read_as_zero_never_negative():
    assert openai_usage(Usage()) == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert anthropic_usage({}) == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    odd = {"prompt_tokens": 3, "prompt_tokens_details": {"cached_tokens": 9}}
    assert anthropic_usage(odd)["input_tokens"] == 0
    assert usage_of_openai({}) == Usage(None, None, None)
