"""docs/openapi/management.yaml: a valid OpenAPI 3.1 document naming every path of the
management API (SPEC 7, 7.1, 8.1), and the API conforming to it (schemathesis).

The conformance tests send what schemathesis generates from the document (every
operation, valid bodies and parameters, and sequences that follow the document's
links: create a tenant, then read, patch, mint, list, revoke, delete it) and check
every answer: no 5xx, a documented status, the documented content type and schema.
They run against the real gateway in built-in-store mode, and against the stand-in
the CLI tests use (tests/management_api.py), so both keep to the document.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.management_api import (
    ADMIN_KEY,
    DOCUMENT_PATH,
    LiveGateway,
    StandIn,
    live_gateway,
    load_document,
    standin_in_thread,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
SCHEMA = schemathesis.openapi.from_path(DOCUMENT_PATH)
# Bounded: 11 operations x 25 examples, plus 15 linked scenarios, run in well under 60 s.
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
SCENARIOS = settings(
    max_examples=15,
    stateful_step_count=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def test_the_document_is_valid_openapi_3_1():
    document = load_document()
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_the_document_names_every_management_path():
    document = load_document()
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert operations == {
        ("POST", "/admin/tenants"),
        ("GET", "/admin/tenants"),
        ("GET", "/admin/tenants/{tenant_id}"),
        ("PATCH", "/admin/tenants/{tenant_id}"),
        ("DELETE", "/admin/tenants/{tenant_id}"),
        ("POST", "/admin/tenants/{tenant_id}/tokens"),
        ("GET", "/admin/tenants/{tenant_id}/tokens"),
        ("DELETE", "/admin/tenants/{tenant_id}/tokens/{token_id}"),
        ("GET", "/admin/tenants/{tenant_id}/usage"),
        ("DELETE", "/admin/cache/users/{user_id}"),
        ("GET", "/users/{user_id}/config"),
    }
    schemes = document["components"]["securitySchemes"]
    assert schemes["adminKey"] == {**schemes["adminKey"], "type": "http", "scheme": "bearer"}
    limit = document["components"]["parameters"]["Limit"]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 1000, 100)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with live_gateway(tmp_path_factory.mktemp("gateway")) as running:
        yield running


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with standin_in_thread(StandIn()) as running:
        yield running


def _call_and_check(case: schemathesis.Case, url: str) -> None:
    case.call_and_validate(base_url=url, headers=AUTH, checks=CHECKS)


@pytest.mark.slow
@SCHEMA.parametrize()
@EXAMPLES
def test_the_gateway_answers_as_documented(case, gateway):
    _call_and_check(case, gateway.url)


@SCHEMA.parametrize()
@EXAMPLES
def test_the_standin_answers_as_documented(case, standin):
    _call_and_check(case, standin.url)


def delete_every_tenant(url: str) -> None:
    """Through the API itself, so it works on any target."""
    while True:
        request = urllib.request.Request(f"{url}/admin/tenants?limit=1000", headers=AUTH)
        with urllib.request.urlopen(request, timeout=10) as response:
            tenants = json.loads(response.read())["data"]
        if not tenants:
            return
        for tenant in tenants:
            path = f"{url}/admin/tenants/{urllib.parse.quote(tenant['tenant_id'], safe='')}"
            delete = urllib.request.Request(path, headers=AUTH, method="DELETE")
            urllib.request.urlopen(delete, timeout=10).close()


def _scenarios(url: str) -> type:
    class Scenarios(SCHEMA.as_state_machine()):  # type: ignore[misc]
        def setup(self):
            # Each scenario starts from an empty store, so a replay sees what the
            # first run saw (hypothesis requires it).
            delete_every_tenant(url)

        def get_call_kwargs(self, case):
            return {"base_url": url, "headers": AUTH}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

    return Scenarios


@pytest.mark.slow
def test_the_gateway_follows_the_documented_links(gateway):
    _scenarios(gateway.url).run(settings=SCENARIOS)


def test_the_standin_follows_the_documented_links(standin):
    _scenarios(standin.url).run(settings=SCENARIOS)


def test_the_document_is_in_the_repository():
    assert DOCUMENT_PATH == Path(__file__).parents[2] / "docs" / "openapi" / "management.yaml"
