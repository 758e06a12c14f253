"""Static mode's YAML: env expansion, validation errors that name file and field."""

from __future__ import annotations

import hashlib
import re

import pytest

from proxy.tenancy.static import StaticConfigError, load_static_config


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "proxy.yaml"
    path.write_text(text)
    return str(path)


def test_env_variables_are_expanded_after_parsing(tmp_path):
    path = _write(
        tmp_path,
        "models:\n"
        "  - model_name: a\n    api_base: ${BASE}\n    api_key: ${KEY}\n"
        "  - model_name: b\n    api_base: http://x\n    api_key: ${OPTIONAL:-}\n",
    )
    static = load_static_config(path, {"BASE": "http://up:1", "KEY": "sk-a: b\n- c"})
    assert static.tenant.route_for("a").api_key == "sk-a: b\n- c"  # a value cannot change structure
    assert static.tenant.route_for("a").api_base == "http://up:1"
    assert static.tenant.route_for("b").api_key is None


def test_an_unset_variable_is_an_error_naming_it_and_the_field(tmp_path):
    path = _write(
        tmp_path, "models:\n  - model_name: a\n    api_base: http://x\n    api_key: ${OPENAI_KEY}\n"
    )
    with pytest.raises(StaticConfigError) as info:
        load_static_config(path, {})
    assert (
        str(info.value) == f"{path}: models[0].api_key: environment variable OPENAI_KEY is not set"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models: [", "not valid YAML"),
        ("models:\n  - model_name: a\n    provider: openai\n", "models[0].api_base: required"),
        ("auth:\n  keys: [sha256:abc]\n", "auth.keys[0]: a sha256: key must have 64 hex digits"),
    ],
)
def test_invalid_files_say_where(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(StaticConfigError, match=re.escape(expected)) as info:
        load_static_config(path, {})
    assert str(info.value).startswith(path)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(StaticConfigError, match="file not found"):
        load_static_config(str(tmp_path / "nope.yaml"), {})


def test_auth_keys_plain_and_hashed(tmp_path):
    digest = hashlib.sha256(b"tp-hashed-key").hexdigest()
    path = _write(
        tmp_path, f"default: {{provider: mock}}\nauth:\n  keys: [tp-plain-key, 'sha256:{digest}']\n"
    )
    verifier = load_static_config(path, {}).verifier
    assert verifier is not None
    assert verifier.is_valid("tp-plain-key") and verifier.is_valid("tp-hashed-key")
    assert not verifier.is_valid("tp-other")
    assert not verifier.is_valid(f"sha256:{digest}")  # the digest itself is not a key


def test_no_keys_means_open_access(tmp_path):
    path = _write(tmp_path, "default: {provider: mock}\n")
    assert load_static_config(path, {}).verifier is None
