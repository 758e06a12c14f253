"""Content pieces both request translators share: text, images, tool arguments.

Images: an OpenAI `image_url` holding a `data:<media type>;base64,<data>` URL is an
Anthropic `base64` source and an http(s) URL is a `url` source, and back again.
Tool-call arguments are JSON text on the OpenAI side and an object on the Anthropic side.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.errors import InvalidRequestError, UnsupportedParameterError

_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def text_of_parts(content: object, where: str) -> list[str]:
    """The texts of a string or a list of text (or refusal) parts; other parts are refused."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise InvalidRequestError(f"{where}.content must be a string or a list", param=where)
    texts: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(part.get("text") or "")
        elif kind == "refusal":
            texts.append(part.get("refusal") or "")
        else:
            raise UnsupportedParameterError(
                f"a {kind} part cannot stand here for this model's provider",
                param=f"{where}.content[{j}]",
            )
    return texts


def anthropic_image(image_url: object, where: str) -> dict[str, Any]:
    """An Anthropic image block for an OpenAI `image_url` (object or bare string)."""
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str):
        raise InvalidRequestError("image_url.url must be a string", param=where)
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    header, comma, data = url.partition(",")
    media_type = header.removeprefix("data:").removesuffix(";base64")
    if not (comma and header.startswith("data:") and header.endswith(";base64")):
        raise UnsupportedParameterError(
            "an image must be an http(s) URL or a base64 data URL", param=where
        )
    if media_type not in _MEDIA_TYPES:
        raise UnsupportedParameterError(f"images of type {media_type} are refused", param=where)
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def openai_image_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    """An OpenAI `image_url` part for an Anthropic image block (base64 or url source)."""
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif source.get("type") == "url":
        url = str(source.get("url"))
    else:
        raise UnsupportedParameterError(
            f"an image from a {source.get('type')} source cannot be expressed for this "
            "model's provider (OpenAI Chat Completions)",
            param=f"{where}.source",
        )
    return {"type": "image_url", "image_url": {"url": url}}


def json_object_of_arguments(arguments: object, where: str) -> dict[str, Any]:
    """The object a tool call's JSON arguments text holds ("" reads as {})."""
    if arguments is None or arguments == "":
        return {}
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) else None
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequestError("tool call arguments must be a JSON object", param=where)
    return value


def json_text_of_input(value: object) -> str:
    """A tool call's arguments as JSON text, from an Anthropic `input` object."""
    return orjson.dumps(value if value is not None else {}).decode()
