"""The words both formats share: finish reasons and usage blocks, mapped each way.

Usage conventions (SPEC 13): OpenAI's `prompt_tokens` counts every input token and
`prompt_tokens_details.cached_tokens` the part read from the cache; Anthropic's
`input_tokens` excludes both cache reads (`cache_read_input_tokens`) and cache writes
(`cache_creation_input_tokens`). So `prompt_tokens` = input + reads + writes, and
`total_tokens` = prompt + completion.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from proxy.streaming.usage import Usage

OpenAIFinishReason = Literal["stop", "length", "tool_calls", "content_filter"]

FINISH_REASON_OF_STOP_REASON: dict[str, OpenAIFinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

STOP_REASON_OF_FINISH_REASON: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


class PromptTokensDetails(TypedDict, total=False):
    cached_tokens: int
    cache_write_tokens: int


class OpenAIUsage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails


class AnthropicUsage(TypedDict, total=False):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


def finish_reason(stop_reason: str | None) -> OpenAIFinishReason:
    """OpenAI's finish reason for an Anthropic stop reason (unknown ones read as `stop`)."""
    return FINISH_REASON_OF_STOP_REASON.get(stop_reason or "end_turn", "stop")


def stop_reason(reason: str | None) -> str:
    """Anthropic's stop reason for an OpenAI finish reason (unknown ones read as `end_turn`)."""
    return STOP_REASON_OF_FINISH_REASON.get(reason or "stop", "end_turn")


def usage_of_anthropic(block: dict[str, Any]) -> Usage:
    """Normalised usage of an Anthropic usage block: input counts cache reads and writes."""
    read = block.get("cache_read_input_tokens") or 0
    written = block.get("cache_creation_input_tokens") or 0
    given = block.get("input_tokens")
    total = given + read + written if given is not None else None
    return Usage(total, block.get("output_tokens"), read)


def usage_of_openai(block: dict[str, Any]) -> Usage:
    """Normalised usage of an OpenAI chat usage block."""
    details = block.get("prompt_tokens_details") or {}
    return Usage(
        block.get("prompt_tokens"), block.get("completion_tokens"), details.get("cached_tokens")
    )


def openai_usage(usage: Usage) -> OpenAIUsage:
    """An OpenAI `usage` object: prompt counts every input token, total = prompt + completion."""
    prompt = usage.input_tokens or 0
    completion = usage.output_tokens or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens or 0},
    }


def anthropic_usage(block: dict[str, Any]) -> AnthropicUsage:
    """An Anthropic `usage` object from an OpenAI one: input excludes cache reads and writes."""
    details = block.get("prompt_tokens_details") or {}
    read = details.get("cached_tokens") or 0
    written = details.get("cache_write_tokens") or 0
    prompt = block.get("prompt_tokens") or 0
    return {
        "input_tokens": max(prompt - read - written, 0),
        "output_tokens": block.get("completion_tokens") or 0,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": written,
    }
