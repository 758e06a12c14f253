"""Validating answers against the OpenAPI documents in docs/openapi/ (JSON Schema 2020-12,
with references between the documents resolved)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCS = Path(__file__).parents[2] / "docs"
OPENAPI = DOCS / "openapi"


def uri(name: str) -> str:
    return (OPENAPI / name).as_uri()


@cache
def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((OPENAPI / name).read_text())
    return loaded


@cache
def _registry() -> Registry:
    resources = [
        (uri(p.name), Resource.from_contents(document(p.name), default_specification=DRAFT202012))
        for p in OPENAPI.glob("*.yaml")
    ]
    return Registry().with_resources(resources)


def response_validator(name: str, path: str, method: str, status: int) -> Draft202012Validator:
    """The validator of an operation's documented JSON body for `status` (KeyError when
    the status is not documented)."""
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ("paths", path, method, "responses", str(status), "content", "application/json")
    )
    return Draft202012Validator({"$ref": f"{uri(name)}#/{pointer}/schema"}, registry=_registry())
