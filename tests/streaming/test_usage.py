"""Usage from JSON bodies of every provider, without parsing the body."""

from __future__ import annotations

import json

import pytest

from proxy.streaming.usage import Usage, settle_stream, usage_from_body


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {
                "choices": [],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            },
            (10, 5, None),
        ),
        (
            {
                "usage": {
                    "prompt_tokens": 10,
                    "completion_tokens": 5,
                    "prompt_tokens_details": {"cached_tokens": 6},
                    "completion_tokens_details": {"reasoning_tokens": 2},
                },
                "system_fingerprint": "fp",
            },
            (10, 5, 6),
        ),
        (
            {"object": "list", "data": [], "usage": {"prompt_tokens": 8, "total_tokens": 8}},
            (8, 0, None),
        ),
        (
            {
                "object": "response",
                "usage": {
                    "input_tokens": 30,
                    "input_tokens_details": {"cached_tokens": 10},
                    "output_tokens": 4,
                },
                "user": None,
                "metadata": {},
            },
            (30, 4, 10),
        ),
        (
            {
                "type": "message",
                "content": [{"type": "text", "text": "x"}],
                "usage": {
                    "input_tokens": 7,
                    "cache_creation_input_tokens": 3,
                    "cache_read_input_tokens": 5,
                    "output_tokens": 2,
                },
            },
            (15, 2, 5),
        ),
        ({"choices": [], "usage": None}, None),
        ({"choices": []}, None),
    ],
    ids=["chat", "chat-cached", "embeddings", "responses", "anthropic", "null", "absent"],
)
@pytest.mark.parametrize("indent", [None, 2])
def test_providers(doc, expected, indent):
    body = json.dumps(doc, indent=indent, separators=None if indent else (",", ":")).encode()
    assert usage_from_body(body) == expected


def test_a_usage_word_in_content_is_ignored():
    body = json.dumps(
        {"choices": [{"message": {"content": 'say "usage": {"prompt_tokens": 5}'}}]}
    ).encode()
    assert usage_from_body(body) is None


def test_a_brace_inside_a_usage_string_does_not_hide_the_counts():
    body = b'{"usage":{"input_tokens":4,"service_tier":"}","output_tokens":6}}'
    assert usage_from_body(body) == (4, 6, None)


def test_a_long_embeddings_body_is_read_from_its_usage_object():
    vectors = [{"embedding": [0.125] * 3000, "index": i} for i in range(4)]
    doc = {"object": "list", "data": vectors, "usage": {"prompt_tokens": 9, "total_tokens": 9}}
    assert usage_from_body(json.dumps(doc).encode()) == (9, 0, None)


def test_a_stream_without_usage_is_settled_from_what_was_relayed():
    usage = Usage()
    assert settle_stream(usage, text_chars=9, prompt_bytes=401) is True
    assert usage == Usage(101, 3, None)  # ceil(401 / 4), ceil(9 / 4)


def test_stated_usage_is_kept():
    usage = Usage(12, 3, 4)
    assert settle_stream(usage, text_chars=0, prompt_bytes=401) is False
    assert usage == Usage(12, 3, 4)


def test_text_after_the_last_statement_is_added_to_the_stated_output():
    usage = Usage(25, 1, 5)  # Anthropic's message_start, then a cut
    assert settle_stream(usage, text_chars=10, prompt_bytes=401) is True
    assert usage == Usage(25, 4, 5)
