"""The OpenAI entry: Bearer keys, usage asked for on chat streams, `data:` error events."""

from __future__ import annotations

import orjson

from proxy.errors import UpstreamTimeoutError
from proxy.providers.openai import CHAT_PATH, OPENAI, chat_usage, responses_usage, sse_error
from proxy.streaming.usage import Usage, usage_from_body


def test_the_entry():
    assert (OPENAI.name, OPENAI.key_header, OPENAI.key_prefix) == (
        "openai",
        "Authorization",
        "Bearer ",
    )
    assert (
        OPENAI.stream_usage_paths == frozenset({CHAT_PATH}) == frozenset({"/v1/chat/completions"})
    )
    assert OPENAI.default_headers == () and OPENAI.default_api_base is None and OPENAI.local is None


def test_a_broken_stream_ends_with_one_data_error_event():
    event = sse_error(UpstreamTimeoutError("stalled"))
    assert event.startswith(b"data: ") and event.endswith(b"}\n\n") and event.count(b"\n\n") == 1
    assert orjson.loads(event[6:]) == {
        "error": {
            "message": "stalled",
            "type": "upstream_error",
            "code": "upstream_timeout",
            "param": None,
        }
    }


def test_usage_objects_read_back_as_the_usage_they_were_made_from():
    usage = Usage(30, 4, 10)
    chat = orjson.dumps({"usage": chat_usage(usage)})
    assert orjson.loads(chat)["usage"]["total_tokens"] == 34
    assert usage_from_body(chat) == (30, 4, 10)
    responses = orjson.dumps({"usage": responses_usage(usage)})
    assert usage_from_body(responses) == (30, 4, 10)
