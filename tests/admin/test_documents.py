"""Merge patch (RFC 7396, its appendix A examples) and the masked-key rule, as pure functions."""

from __future__ import annotations

import pytest

from proxy.admin.documents import keep_masked_keys, masked, merge_patch, patched_document
from proxy.errors import InvalidConfigError
from proxy.store import TenantRow

RFC_7396_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7396_EXAMPLES)
def test_rfc_7396_examples(target, patch, result):
    assert merge_patch(target, patch) == result


def test_a_mask_keeps_the_key_of_the_same_route_only():
    stored = {
        "models": [
            {"model_name": "a", "api_key": "sk-aaaaaaaaaaaa-0001"},
            {"model_name": "b", "api_key": "sk-bbbbbbbbbbbb-0001"},  # the same mask as a's
        ],
        "default": {"api_key": "tiny"},
    }
    shown = masked(stored)
    assert [m["api_key"] for m in shown["models"]] == ["sk-...0001", "sk-...0001"]
    edited = {
        "models": [
            {"model_name": "b", "api_key": "sk-...0001"},
            {"model_name": "c", "api_key": "sk-...0001"},  # a new route: its mask is its key
        ],
        "default": {"api_key": "..."},
    }
    kept = keep_masked_keys(edited, stored)
    assert [m["api_key"] for m in kept["models"]] == ["sk-bbbbbbbbbbbb-0001", "sk-...0001"]
    assert kept["default"]["api_key"] == "tiny"
    assert edited["models"][0]["api_key"] == "sk-...0001"  # the input is not changed


def test_a_model_name_that_is_not_a_string_is_refused_as_invalid_config():
    stored = {"models": [{"model_name": "a", "api_base": "https://x", "api_key": "sk-x-0001"}]}
    row = TenantRow("t1", stored, 1, 0.0, 0.0)
    with pytest.raises(InvalidConfigError) as refused:  # was a TypeError: a 500
        patched_document(row, {"models": [{"model_name": {}, "provider": None}]})
    assert refused.value.param == "models[0].model_name"
