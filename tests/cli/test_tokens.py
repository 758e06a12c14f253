"""`tenant-proxy tokens mint|list|revoke`: the token shown once, never listed."""

from __future__ import annotations

import json

import pytest

from proxy.cli.tokens import NOT_SHOWN_AGAIN
from tests.cli.conftest import columns, failed, ok


@pytest.fixture
def tenant(cli):
    ok(cli("tenants", "create", "acme", "--config", "-", stdin="default: {provider: mock}\n"))
    return "acme"


def test_mint_prints_the_token_once_with_a_warning(cli, tenant):
    lines = ok(cli("tokens", "mint", tenant, "--ttl", "600", "--name", "ci")).splitlines()
    assert lines[-1] == NOT_SHOWN_AGAIN
    fields = dict(columns("\n".join(lines[1:-1])))
    assert columns(lines[0]) == [["FIELD", "VALUE"]]
    assert fields["tenant_id"] == tenant and fields["name"] == "ci"
    assert fields["token"].startswith("tp-") and fields["expires_at"].endswith("Z")
    assert fields["token_id"]


def test_mint_json_is_the_api_answer(cli, tenant):
    answer = json.loads(ok(cli("tokens", "mint", "--json", tenant)))
    assert set(answer) == {"token_id", "token", "tenant_id", "name", "expires_at"}
    assert answer["token"].startswith("tp-")


def test_list_shows_ids_and_times_never_the_token(cli, tenant):
    first = json.loads(ok(cli("tokens", "mint", tenant, "--name", "first", "--json")))
    second = json.loads(ok(cli("tokens", "mint", tenant, "--name", "second", "--json")))
    ok(cli("tokens", "revoke", tenant, first["token_id"]))
    out = ok(cli("tokens", "list", tenant))
    table = columns(out)
    assert table[0] == ["TOKEN_ID", "NAME", "CREATED_AT", "EXPIRES_AT", "REVOKED_AT"]
    rows = {row[0]: row for row in table[1:]}
    assert rows[first["token_id"]][1] == "first" and rows[first["token_id"]][4].endswith("Z")
    assert rows[second["token_id"]][1:2] == ["second"] and rows[second["token_id"]][4] == "-"
    answer = ok(cli("tokens", "list", tenant, "--json"))
    for secret in (first["token"], second["token"]):
        assert secret not in out and secret not in answer
    listing = json.loads(answer)
    assert listing["next_cursor"] is None and len(listing["data"]) == 2
    assert len(ok(cli("tokens", "list", tenant, "--limit", "1")).splitlines()) == 2


def test_revoke(cli, tenant):
    minted = json.loads(ok(cli("tokens", "mint", tenant, "--json")))
    token_id = minted["token_id"]
    assert ok(cli("tokens", "revoke", tenant, token_id)) == (
        f"revoked token {token_id} of tenant {tenant}\n"
    )
    assert ok(cli("tokens", "revoke", "--json", tenant, token_id)) == ""  # 204: nothing
    assert failed(cli("tokens", "revoke", tenant, "tok_unknown")).endswith("(HTTP 404, not_found)")


def test_unknown_tenants_and_bad_ttls(cli, tenant):
    assert failed(cli("tokens", "mint", "nobody")).endswith("(HTTP 404, not_found)")
    assert failed(cli("tokens", "list", "nobody")).endswith("(HTTP 404, not_found)")
    assert "--ttl" in failed(cli("tokens", "mint", tenant, "--ttl", "0"), 2)
    assert "--ttl" in failed(cli("tokens", "mint", tenant, "--ttl", "soon"), 2)
    too_long = failed(cli("tokens", "mint", tenant, "--ttl", str(31 * 24 * 3600)))
    assert "(HTTP 400" in too_long
