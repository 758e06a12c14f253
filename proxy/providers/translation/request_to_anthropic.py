"""OpenAI Chat Completions request bodies as Anthropic Messages request bodies.

Fields (OpenAI -> Anthropic); anything not listed is refused as `unsupported_parameter`:

    messages              system/developer -> `system` text blocks (in order, wherever they
                          stand); user/assistant -> turns; `tool` -> `tool_result` blocks in
                          a user turn; consecutive same-role turns merge (roles alternate)
    max_completion_tokens -> max_tokens (else `max_tokens`, else the route's default)
    stop                  -> stop_sequences
    temperature, top_p    -> as they are (Anthropic refuses temperature > 1 itself)
    user                  -> metadata.user_id (`safety_identifier` when `user` is absent)
    tools, tool_choice    -> tools (`input_schema`), tool_choice auto/none/any/tool
    parallel_tool_calls   false -> tool_choice.disable_parallel_tool_use
    response_format       text -> (nothing); json_schema -> output_config.format
    reasoning_effort      low/medium/high/xhigh -> output_config.effort
    stream                -> stream (stream_options is the proxy's business, not sent)
    dropped (no effect on the answer's content): store, metadata, seed, service_tier,
    prompt_cache_key, prompt_cache_retention, prompt_cache_options, verbosity
    refused when in effect: n > 1, logprobs, top_logprobs, logit_bias, frequency_penalty,
    presence_penalty, audio, modalities with audio, prediction, functions, function_call,
    web_search_options, moderation, response_format json_object, other reasoning_effort,
    audio and file parts, custom tools, allowed_tools tool choice
"""

from __future__ import annotations

from typing import Any

from proxy.errors import InvalidRequestError, UnsupportedParameterError
from proxy.providers.translation.content import (
    anthropic_image,
    json_object_of_arguments,
    text_of_parts,
)

_MAPPED = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "stop", "temperature",
        "top_p", "user", "safety_identifier", "tools", "tool_choice", "parallel_tool_calls",
        "response_format", "reasoning_effort", "stream", "stream_options",
    }
)  # fmt: skip
_DROPPED = frozenset(
    {
        "store", "metadata", "seed", "service_tier", "prompt_cache_key",
        "prompt_cache_retention", "prompt_cache_options", "verbosity",
    }
)  # fmt: skip
_REFUSED_WHEN_SET = (
    "top_logprobs",
    "audio",
    "prediction",
    "functions",
    "function_call",
    "web_search_options",
    "moderation",
)
_REFUSED_WHEN_TRUTHY = ("logprobs", "logit_bias", "frequency_penalty", "presence_penalty")
_KNOWN = _MAPPED | _DROPPED | {"n", "modalities", *_REFUSED_WHEN_SET, *_REFUSED_WHEN_TRUTHY}
_TOOL_CHOICES = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}
_EFFORTS = frozenset({"low", "medium", "high", "xhigh"})


def openai_chat_to_anthropic(doc: dict[str, Any], *, max_tokens_default: int) -> dict[str, Any]:
    """The Messages request for a Chat Completions request; raises what it cannot express."""
    _refuse_unexpressible(doc)
    system, turns = _conversation(doc.get("messages"))
    out: dict[str, Any] = {"model": doc.get("model"), "max_tokens": _max_tokens(doc)}
    if out["max_tokens"] is None:
        out["max_tokens"] = max_tokens_default
    if system:
        out["system"] = system
    out["messages"] = turns
    for field in ("temperature", "top_p"):
        if doc.get(field) is not None:
            out[field] = doc[field]
    stop = doc.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    user = doc.get("user") or doc.get("safety_identifier")
    if user:
        out["metadata"] = {"user_id": user}
    _copy_tools(doc, out)
    _copy_output_config(doc, out)
    if doc.get("stream"):
        out["stream"] = True
    return out


def _refuse_unexpressible(doc: dict[str, Any]) -> None:
    for field in doc:
        if field not in _KNOWN:
            raise UnsupportedParameterError(_cannot(field), param=field)
    if (doc.get("n") or 1) != 1:
        raise UnsupportedParameterError(
            "Anthropic models answer one choice: n must be 1", param="n"
        )
    for field in _REFUSED_WHEN_SET:
        if doc.get(field) is not None:
            raise UnsupportedParameterError(_cannot(field), param=field)
    for field in _REFUSED_WHEN_TRUTHY:
        if doc.get(field):
            raise UnsupportedParameterError(_cannot(field), param=field)
    if "audio" in (doc.get("modalities") or ()):
        raise UnsupportedParameterError(_cannot("audio output"), param="modalities")


def _cannot(what: str) -> str:
    return f"{what} cannot be expressed for this model's provider (Anthropic Messages)"


def _max_tokens(doc: dict[str, Any]) -> int | None:
    for field in ("max_completion_tokens", "max_tokens"):
        if doc.get(field) is not None:
            value: int = doc[field]
            return value
    return None


def _conversation(messages: object) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not isinstance(messages, list):
        raise InvalidRequestError("messages must be a list", param="messages")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequestError(f"{where} must be an object", param=where)
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_text_blocks(message.get("content"), where))
        elif role == "user":
            _append_turn(turns, "user", _user_blocks(message.get("content"), where))
        elif role == "assistant":
            _append_turn(turns, "assistant", _assistant_blocks(message, where))
        elif role == "tool":
            _append_turn(turns, "user", [_tool_result(message, where)])
        else:
            raise UnsupportedParameterError(_cannot(f"role {role!r}"), param=f"{where}.role")
    for turn in turns:  # Anthropic wants a user turn's tool results before its other blocks
        if turn["role"] == "user":
            turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    return system, turns


def _append_turn(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _text_blocks(content: object, where: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text} for text in text_of_parts(content, where) if text]


def _user_blocks(content: object, where: str) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return _text_blocks(content, where)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(anthropic_image(part.get("image_url"), f"{where}.content[{j}]"))
        else:
            raise UnsupportedParameterError(
                _cannot(f"a {kind} content part"), param=f"{where}.content[{j}]"
            )
    return blocks


def _assistant_blocks(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    for field in ("audio", "function_call"):
        if message.get(field) is not None:
            raise UnsupportedParameterError(_cannot(field), param=f"{where}.{field}")
    blocks = _text_blocks(message.get("content"), where)
    if not blocks and message.get("refusal"):
        blocks.append({"type": "text", "text": message["refusal"]})
    for k, call in enumerate(message.get("tool_calls") or ()):
        at = f"{where}.tool_calls[{k}]"
        if call.get("type", "function") != "function":
            raise UnsupportedParameterError(_cannot(f"a {call.get('type')} tool call"), param=at)
        function = call.get("function") or {}
        arguments = json_object_of_arguments(function.get("arguments"), f"{at}.function.arguments")
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": arguments,
            }
        )
    return blocks


def _tool_result(message: dict[str, Any], where: str) -> dict[str, Any]:
    content = message.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.get("tool_call_id")}
    block["content"] = content if isinstance(content, str) else _text_blocks(content, where)
    return block


def _copy_tools(doc: dict[str, Any], out: dict[str, Any]) -> None:
    tools = doc.get("tools")
    if tools:
        out["tools"] = [_tool(tool, f"tools[{k}]") for k, tool in enumerate(tools)]
    choice = _tool_choice(doc.get("tool_choice"))
    if doc.get("parallel_tool_calls") is False and tools:
        choice = dict(choice or {"type": "auto"})
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        out["tool_choice"] = choice


def _tool(tool: dict[str, Any], where: str) -> dict[str, Any]:
    if tool.get("type", "function") != "function":
        raise UnsupportedParameterError(_cannot(f"a {tool.get('type')} tool"), param=where)
    function = tool.get("function") or {}
    out: dict[str, Any] = {"name": function.get("name")}
    if function.get("description"):
        out["description"] = function["description"]
    out["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    if function.get("strict"):
        out["strict"] = True
    return out


def _tool_choice(choice: object) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _TOOL_CHOICES:
        return dict(_TOOL_CHOICES[choice])
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    raise UnsupportedParameterError(_cannot("this tool_choice"), param="tool_choice")


def _copy_output_config(doc: dict[str, Any], out: dict[str, Any]) -> None:
    config: dict[str, Any] = {}
    response_format = doc.get("response_format") or {"type": "text"}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        config["format"] = {"type": "json_schema", "schema": schema}
    elif response_format.get("type") != "text":
        raise UnsupportedParameterError(_cannot("this response_format"), param="response_format")
    effort = doc.get("reasoning_effort")
    if effort is not None:
        if effort not in _EFFORTS:
            raise UnsupportedParameterError(_cannot(f"effort {effort!r}"), param="reasoning_effort")
        config["effort"] = effort
    if config:
        out["output_config"] = config
