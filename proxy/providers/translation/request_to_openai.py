"""Anthropic Messages request bodies as OpenAI Chat Completions request bodies.

Fields (Anthropic -> OpenAI); anything not listed is refused as `unsupported_parameter`:

    system           -> a first `system` message (text blocks joined by blank lines)
    messages         user text/image blocks -> a user message with text/image_url parts;
                     `tool_result` blocks -> `tool` messages placed before the rest of the
                     turn; assistant text -> content, `tool_use` -> `tool_calls` (input as
                     JSON text); thinking blocks of earlier turns are dropped
    max_tokens       -> max_completion_tokens
    stop_sequences   -> stop
    temperature, top_p -> as they are
    metadata.user_id -> user
    tools            custom tools -> function tools (`input_schema` -> `parameters`)
    tool_choice      auto/none/any/tool -> auto/none/required/{function};
                     disable_parallel_tool_use -> parallel_tool_calls false
    output_config    format json_schema -> response_format json_schema;
                     effort low/medium/high/xhigh -> reasoning_effort
    stream           -> stream, plus stream_options.include_usage (usage is always known)
    thinking         only {"type": "disabled"}
    dropped (no effect on the answer's content): service_tier, cache_control (anywhere)
    refused: top_k, enabled thinking, server tools, document/search-result/other blocks,
    images inside tool results, file image sources, other output_config values
"""

from __future__ import annotations

from typing import Any

from proxy.errors import InvalidRequestError, UnsupportedParameterError
from proxy.providers.translation.content import json_text_of_input, openai_image_part

_MAPPED = frozenset(
    {
        "model", "messages", "max_tokens", "system", "stop_sequences", "temperature", "top_p",
        "metadata", "tools", "tool_choice", "output_config", "stream", "thinking",
    }
)  # fmt: skip
_DROPPED = frozenset({"service_tier", "cache_control"})
_TOOL_CHOICES = {"auto": "auto", "none": "none", "any": "required"}
_EFFORTS = frozenset({"low", "medium", "high", "xhigh"})


def anthropic_messages_to_openai_chat(doc: dict[str, Any]) -> dict[str, Any]:
    """The Chat Completions request for a Messages request; raises what it cannot express."""
    _refuse_unexpressible(doc)
    messages = _system_messages(doc.get("system"))
    messages.extend(_conversation(doc.get("messages")))
    out: dict[str, Any] = {"model": doc.get("model"), "messages": messages}
    if doc.get("max_tokens") is not None:
        out["max_completion_tokens"] = doc["max_tokens"]
    for field in ("temperature", "top_p"):
        if doc.get(field) is not None:
            out[field] = doc[field]
    if doc.get("stop_sequences"):
        out["stop"] = list(doc["stop_sequences"])
    user = (doc.get("metadata") or {}).get("user_id")
    if user:
        out["user"] = user
    _copy_tools(doc, out)
    _copy_output_config(doc.get("output_config") or {}, out)
    if doc.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _cannot(what: str) -> str:
    return f"{what} cannot be expressed for this model's provider (OpenAI Chat Completions)"


def _refuse_unexpressible(doc: dict[str, Any]) -> None:
    for field in doc:
        if field not in _MAPPED and field not in _DROPPED:
            raise UnsupportedParameterError(_cannot(field), param=field)
    thinking = doc.get("thinking")
    if thinking is not None and thinking.get("type") != "disabled":
        raise UnsupportedParameterError(_cannot("extended thinking"), param="thinking")


def _system_messages(system: object) -> list[dict[str, Any]]:
    if not system:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if not isinstance(system, list):
        raise InvalidRequestError("system must be a string or a list", param="system")
    texts = [_text_of(block, f"system[{k}]") for k, block in enumerate(system)]
    return [{"role": "system", "content": "\n\n".join(texts)}]


def _text_of(block: object, where: str) -> str:
    if not isinstance(block, dict) or block.get("type") != "text":
        kind = block.get("type") if isinstance(block, dict) else None
        raise UnsupportedParameterError(_cannot(f"a {kind} block here"), param=where)
    text: str = block.get("text") or ""
    return text


def _conversation(turns: object) -> list[dict[str, Any]]:
    if not isinstance(turns, list):
        raise InvalidRequestError("messages must be a list", param="messages")
    messages: list[dict[str, Any]] = []
    for i, turn in enumerate(turns):
        where = f"messages[{i}]"
        if not isinstance(turn, dict):
            raise InvalidRequestError(f"{where} must be an object", param=where)
        content = turn.get("content")
        if turn.get("role") == "assistant":
            messages.append(_assistant_message(content, where))
        elif turn.get("role") == "user":
            messages.extend(_user_messages(content, where))
        else:
            raise UnsupportedParameterError(_cannot(f"role {turn.get('role')!r}"), param=where)
    return messages


def _user_messages(content: object, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where}.content must be a string or a list", param=where)
    messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result":
            messages.append(_tool_message(block, at))
        elif kind == "image":
            parts.append(openai_image_part(block, at))
        else:
            parts.append({"type": "text", "text": _text_of(block, at)})
    if parts:
        messages.append({"role": "user", "content": parts})
    return messages


def _tool_message(block: dict[str, Any], where: str) -> dict[str, Any]:
    content = block.get("content")
    if isinstance(content, list):
        content = [
            {"type": "text", "text": _text_of(item, f"{where}.content[{k}]")}
            for k, item in enumerate(content)
        ]
    return {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": content or ""}


def _assistant_message(content: object, where: str) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where}.content must be a string or a list", param=where)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_use":
            function = {
                "name": block.get("name"),
                "arguments": json_text_of_input(block.get("input")),
            }
            calls.append({"id": block.get("id"), "type": "function", "function": function})
        elif kind not in ("thinking", "redacted_thinking"):
            texts.append(_text_of(block, f"{where}.content[{j}]"))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _copy_tools(doc: dict[str, Any], out: dict[str, Any]) -> None:
    tools = doc.get("tools")
    if tools:
        out["tools"] = [_tool(tool, f"tools[{k}]") for k, tool in enumerate(tools)]
    choice = doc.get("tool_choice")
    if choice is None:
        return
    kind = choice.get("type")
    if kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif kind in _TOOL_CHOICES:
        out["tool_choice"] = _TOOL_CHOICES[kind]
    else:
        raise UnsupportedParameterError(_cannot("this tool_choice"), param="tool_choice")
    if choice.get("disable_parallel_tool_use") and tools:
        out["parallel_tool_calls"] = False


def _tool(tool: dict[str, Any], where: str) -> dict[str, Any]:
    if tool.get("type") not in (None, "custom"):
        raise UnsupportedParameterError(_cannot(f"the server tool {tool.get('type')}"), param=where)
    function: dict[str, Any] = {"name": tool.get("name")}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
    if tool.get("strict"):
        function["strict"] = True
    return {"type": "function", "function": function}


def _copy_output_config(config: dict[str, Any], out: dict[str, Any]) -> None:
    for field, value in config.items():
        if value is None:
            continue
        if field == "format" and value.get("type") == "json_schema":
            schema = {"name": "output", "schema": value.get("schema") or {}}
            out["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif field == "effort" and value in _EFFORTS:
            out["reasoning_effort"] = value
        else:
            raise UnsupportedParameterError(_cannot(field), param=f"output_config.{field}")
