"""proxy.api.models: which requests GET /v1/models answers, and the documents it returns."""

from __future__ import annotations

import orjson
import pytest

from proxy.api.models import is_models_path, models_response
from proxy.errors import ModelNotFoundError
from proxy.tenancy.config import parse_tenant_config


def _config(*names: str, **extra):
    return parse_tenant_config(
        {"models": [{"model_name": n, "provider": "mock"} for n in names], **extra}
    )


@pytest.mark.parametrize(
    ("method", "path", "answered"),
    [
        ("GET", "/v1/models", True),
        ("GET", "/v1/models/gpt-4o", True),
        ("GET", "/v1/models/", True),
        ("POST", "/v1/models", False),  # goes upstream like any other POST
        ("DELETE", "/v1/models/ft:gpt:org", False),  # deleting a fine-tune is the provider's
        ("HEAD", "/v1/models", False),
        ("GET", "/v1/modelsx", False),
        ("GET", "/v1/model", False),
        ("GET", "/v2/models", False),
    ],
)
def test_only_get_on_the_models_paths_is_answered_locally(method, path, answered):
    assert is_models_path(method, path) is answered


def test_the_list_is_json_with_created_from_the_config_load_time():
    config = _config("a", "b")
    resp = models_response(config, "/v1/models")
    assert resp.content_type == "application/json"
    assert orjson.loads(resp.body) == {
        "object": "list",
        "data": [
            {"id": "a", "object": "model", "created": config.loaded_at, "owned_by": "mock"},
            {"id": "b", "object": "model", "created": config.loaded_at, "owned_by": "mock"},
        ],
    }


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("meta-llama/Llama-3-8b", "/v1/models/meta-llama/Llama-3-8b"),  # a slash in the id
        ("my model", "/v1/models/my%20model"),  # the forwarded path is percent-encoded
        ("ft:gpt-4o:org:x", "/v1/models/ft:gpt-4o:org:x"),
        ("a%b", "/v1/models/a%25b"),  # decoded once, not twice
    ],
)
def test_one_model_is_found_by_its_decoded_id(name, path):
    doc = orjson.loads(models_response(_config(name), path).body)
    assert (doc["id"], doc["object"], doc["owned_by"]) == (name, "model", "mock")


def test_a_model_outside_the_list_is_not_found_naming_the_param():
    with pytest.raises(ModelNotFoundError) as caught:
        models_response(_config("a"), "/v1/models/b")
    assert caught.value.param == "model" and "'b'" in caught.value.message


def test_allowed_models_hide_other_routes_and_unrouted_names_are_owned_by_unknown():
    config = _config("visible", "hidden", allowed_models=["visible", "planned"])
    listed = orjson.loads(models_response(config, "/v1/models").body)
    assert [(m["id"], m["owned_by"]) for m in listed["data"]] == [
        ("planned", "unknown"),
        ("visible", "mock"),
    ]
    with pytest.raises(ModelNotFoundError):
        models_response(config, "/v1/models/hidden")
