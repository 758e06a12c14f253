"""Content both request translators share: text parts, images, tool-call arguments."""

from __future__ import annotations

import pytest

from proxy.errors import InvalidRequestError, UnsupportedParameterError
from proxy.providers.translation.content import (
    anthropic_image,
    json_object_of_arguments,
    json_text_of_input,
    openai_image_part,
    text_of_parts,
)

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def test_text_of_parts_reads_strings_and_text_or_refusal_parts():
    assert text_of_parts(None, "m") == []
    assert text_of_parts("hi", "m") == ["hi"]
    parts = [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "no"}, {"type": "text"}]
    assert text_of_parts(parts, "m") == ["a", "no", ""]


def test_text_of_parts_refuses_other_parts_and_shapes_naming_where():
    with pytest.raises(UnsupportedParameterError) as e:
        text_of_parts([{"type": "text", "text": "a"}, {"type": "image_url"}], "messages[0]")
    assert e.value.param == "messages[0].content[1]"
    with pytest.raises(UnsupportedParameterError) as e:
        text_of_parts(["bare string"], "messages[2]")
    assert e.value.param == "messages[2].content[0]"
    with pytest.raises(InvalidRequestError) as e:
        text_of_parts({"type": "text"}, "messages[3]")
    assert e.value.param == "messages[3]"


@pytest.mark.parametrize("image_url", [{"url": "https://x.test/a.png"}, "https://x.test/a.png"])
def test_an_http_image_is_a_url_source(image_url):
    assert anthropic_image(image_url, "p") == {
        "type": "image",
        "source": {"type": "url", "url": "https://x.test/a.png"},
    }


@pytest.mark.parametrize("media_type", ["image/png", "image/jpeg", "image/gif", "image/webp"])
def test_a_base64_data_url_is_a_base64_source_and_back(media_type):
    url = f"data:{media_type};base64,{PNG}"
    block = anthropic_image({"url": url, "detail": "high"}, "p")
    assert block == {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": PNG},
    }
    assert openai_image_part(block, "p") == {"type": "image_url", "image_url": {"url": url}}


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://x.test/a.png", UnsupportedParameterError),
        (f"data:image/png,{PNG}", UnsupportedParameterError),  # not base64
        ("data:image/png;base64", UnsupportedParameterError),  # no comma, no data
        (f"data:image/svg+xml;base64,{PNG}", UnsupportedParameterError),
        ("image/png;base64,AAAA", UnsupportedParameterError),
        (None, InvalidRequestError),
        (42, InvalidRequestError),
    ],
)
def test_other_images_are_refused_naming_the_part(url, error):
    with pytest.raises(error) as e:
        anthropic_image({"url": url}, "messages[0].content[2]")
    assert e.value.param == "messages[0].content[2]"
    assert type(e.value) is error


def test_an_anthropic_url_image_is_an_image_url_and_a_file_image_is_refused():
    block = {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}
    assert openai_image_part(block, "p")["image_url"] == {"url": "https://x.test/a.png"}
    with pytest.raises(UnsupportedParameterError) as e:
        openai_image_part({"type": "image", "source": {"type": "file", "file_id": "f"}}, "m[0]")
    assert e.value.param == "m[0].source"
    with pytest.raises(UnsupportedParameterError):
        openai_image_part({"type": "image"}, "m[0]")


@pytest.mark.parametrize(
    ("arguments", "parsed"),
    [
        (None, {}),
        ("", {}),
        ("{}", {}),
        ('{"city": "Paris", "n": [1, 2]}', {"city": "Paris", "n": [1, 2]}),
        ('  {"a": "é"}  ', {"a": "é"}),
    ],
)
def test_tool_call_arguments_are_the_json_object_they_hold(arguments, parsed):
    assert json_object_of_arguments(arguments, "a") == parsed


@pytest.mark.parametrize(
    "arguments", ["{oops", "[1, 2]", '"text"', "null", "1", {"already": "a dict"}, b"{}"]
)
def test_tool_call_arguments_that_are_not_a_json_object_text_are_an_invalid_request(arguments):
    with pytest.raises(InvalidRequestError) as e:
        json_object_of_arguments(arguments, "messages[1].tool_calls[0].function.arguments")
    assert e.value.param == "messages[1].tool_calls[0].function.arguments"
    assert e.value.code == "invalid_request"


def test_an_input_object_is_compact_json_text():
    assert json_text_of_input({"city": "Zürich", "n": 1}) == '{"city":"Zürich","n":1}'
    assert json_text_of_input(None) == "{}"
    assert json_object_of_arguments(json_text_of_input({"a": [1]}), "a") == {"a": [1]}
