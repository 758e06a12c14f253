"""The generated text of each endpoint's stream events, counted as decoded characters."""

from __future__ import annotations

import pytest

from proxy.streaming.text import TextCounter, count_chars, text_fields


def _chars(endpoint: str, block: bytes) -> int:
    found = text_fields(endpoint).findall(block)
    return count_chars(found) if found else 0


@pytest.mark.parametrize(
    ("endpoint", "block", "chars"),
    [
        (
            "/v1/chat/completions",
            b'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":'
            b'[{"index":0,"delta":{"role":"assistant","content":"Hello","refusal":null}}]}\n\n'
            b'data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":'
            b'{"name":"f","arguments":"{\\"a\\":1}"}}]}}]}\n\n'
            b'data: {"choices":[{"delta":{"refusal":"No"}}]}\n\n'
            b'data: {"choices":[{"delta":{"content":null,"reasoning_content":"hmm"}}]}\n\n',
            5 + 7 + 2 + 3,  # the arguments decode to {"a":1}; names and roles are not text
        ),
        ("/v1/completions", b'data: {"object":"text_completion","choices":[{"text":"abc"}]}\n', 3),
        (
            "/v1/responses",
            b'data: {"type":"response.output_text.delta","delta":"Hi"}\n\n'
            b'data: {"type":"response.output_text.done","text":"Hi"}\n\n',  # a repeat
            2,
        ),
        (
            "/v1/messages",
            b'data: {"type":"content_block_start","content_block":{"type":"text","text":""}}\n'
            b'data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Hey"}}\n'
            b'data: {"type":"content_block_delta","delta":'
            b'{"type":"input_json_delta","partial_json":"{\\"q\\""}}\n',
            3 + 4,
        ),
        ("/v1/other", b'data: {"delta":"ab","text":"c"}\n', 3),
    ],
    ids=["chat", "completions", "responses", "anthropic", "unknown-endpoint"],
)
def test_each_endpoint_counts_its_generated_text(endpoint, block, chars):
    assert _chars(endpoint, block) == chars


def test_characters_are_counted_as_decoded():
    block = b'data: {"choices":[{"delta":{"content":"h\xc3\xa9\\n\\u00e9\\\\ \\"x\\""}}]}\n'
    assert _chars("/v1/chat/completions", block) == len('hé\né\\ "x"')


def test_keys_inside_text_are_not_keys():
    block = b'data: {"choices":[{"delta":{"content":"say \\"content\\":\\"x\\""}}]}\n'
    assert _chars("/v1/chat/completions", block) == len('say "content":"x"')


def test_a_text_counter_counts_whole_events_in_batches_and_keeps_nothing_else():
    counter = TextCounter(text_fields("/v1/messages"))
    event = (
        b'event: content_block_delta\ndata: {"delta":{"type":"text_delta","text":"h\\u00e9"}}\n\n'
    )
    for _ in range(100):
        counter.feed(event)
    assert counter.chars == 200  # "hé", two characters each
    assert len(counter._found) == 0
