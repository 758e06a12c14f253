"""The mock's Embeddings answers: deterministic vectors, as floats or base64."""

from __future__ import annotations

from itertools import count

import orjson

from proxy.body import RequestBody, inspect_body
from proxy.providers.mock import embeddings
from proxy.streaming.usage import Usage


def clock() -> float:
    return 1_700_000_000.5


def _body(doc: dict[str, object]) -> RequestBody:
    return inspect_body(orjson.dumps(doc), "application/json")


def test_floats_for_each_input_with_prompt_usage():
    doc = {"model": "e", "input": ["a", "b"], "dimensions": 2}
    reply = embeddings.answer(_body(doc), "gpt-x", count(1), clock)
    assert (
        reply.body
        == b'{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.584314,0.184314]},{"object":"embedding","index":1,"embedding":[-0.513725,-0.72549]}],"model":"gpt-x","usage":{"prompt_tokens":2,"total_tokens":2}}'
    )
    assert reply.usage == Usage(2, 0, None)


def test_base64_is_the_same_vector_packed():
    doc = {"model": "e", "input": "a", "dimensions": 2, "encoding_format": "base64"}
    reply = embeddings.answer(_body(doc), "gpt-x", count(1), clock)
    assert (
        reply.body
        == b'{"object":"list","data":[{"object":"embedding","index":0,"embedding":"mpUVP8+8PD4="}],"model":"gpt-x","usage":{"prompt_tokens":1,"total_tokens":1}}'
    )


def test_token_arrays_are_one_input_and_dimensions_default_to_eight():
    reply = embeddings.answer(_body({"model": "e", "input": [1, 2, 3]}), "gpt-x", count(1), clock)
    (item,) = orjson.loads(reply.body)["data"]
    assert len(item["embedding"]) == embeddings.EMBEDDING_DIMENSIONS == 8


def test_a_missing_input_is_a_400_naming_it():
    reply = embeddings.answer(_body({"model": "e", "input": []}), "gpt-x", count(1), clock)
    assert reply.status == 400
    assert orjson.loads(reply.body)["error"]["param"] == "input"
