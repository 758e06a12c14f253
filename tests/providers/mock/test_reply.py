"""What every mock answer shares: the text cut to the request's limit, and its usage."""

from __future__ import annotations

import orjson
import pytest

from proxy.body import inspect_body
from proxy.providers.mock.reply import REPLY_TEXT, error_reply, words_and_usage
from proxy.streaming.usage import Usage


def test_the_whole_text_one_token_per_word_and_the_prompt_is_bytes_over_four():
    raw = b'{"model":"m"}'  # 13 bytes: 4 tokens
    words, usage = words_and_usage(inspect_body(raw, "application/json"))
    assert "".join(words) == REPLY_TEXT
    assert usage == Usage(4, len(REPLY_TEXT.split(" ")), 0)


@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens", "max_output_tokens"])
def test_each_limit_spelling_cuts_the_text(key):
    words, usage = words_and_usage(inspect_body(orjson.dumps({key: 2}), "application/json"))
    assert words == ["This ", "is "] and usage.output_tokens == 2


@pytest.mark.parametrize("limit", [0, -1, True, "3", 1.5])
def test_limits_that_are_not_positive_integers_are_ignored(limit):
    words, _ = words_and_usage(
        inspect_body(orjson.dumps({"max_tokens": limit}), "application/json")
    )
    assert "".join(words) == REPLY_TEXT


def test_error_reply_is_openai_shaped():
    reply = error_reply(404, "nope", param="p")
    assert (reply.status, reply.content_type, reply.events) == (404, "application/json", [])
    assert orjson.loads(reply.body) == {
        "error": {"message": "nope", "type": "invalid_request_error", "code": None, "param": "p"}
    }
