"""`tenant-proxy tenants create|list|show|update|delete` against the management API."""

from __future__ import annotations

import json
import urllib.request

import pytest
import yaml

from tests.cli.conftest import columns, failed, ok
from tests.management_api import StandIn, standin_in_thread

KEY = "sk-test-key-000000001234"
DOC_YAML = f"""\
models:
  - model_name: gpt-4o-mini
    provider: openai
    api_base: https://api.openai.com
    api_key: {KEY}
default:
  provider: mock
budget:
  monthly_usd: 100
limits:
  rpm: 600
  tpm: 200000
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "acme.yaml"
    path.write_text(DOC_YAML)
    return str(path)


def plain_config(api, tenant_id):
    """The stored document with keys in plain text (GET /users/{id}/config)."""
    request = urllib.request.Request(
        f"{api.url}/users/{tenant_id}/config",
        headers={"Authorization": f"Bearer {api.admin_key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_create_from_yaml_prints_the_document_with_the_key_masked(cli, config):
    out = ok(cli("tenants", "create", "acme", "--config", config))
    headline, _, document = out.partition("\n")
    assert headline == "created tenant acme"
    shown = yaml.safe_load(document)
    assert shown["tenant_id"] == "acme"
    assert shown["models"][0]["api_key"] == "sk-...1234"
    assert shown["budget"] == {"monthly_usd": 100}
    assert shown["created_at"].endswith("Z") and shown["updated_at"].endswith("Z")
    assert KEY not in out


def test_create_from_json_with_json_prints_the_api_answer(cli, tmp_path):
    path = tmp_path / "beta.json"
    path.write_text(json.dumps({"default": {"provider": "mock"}, "allowed_models": ["m"]}))
    answer = json.loads(ok(cli("tenants", "create", "beta", "--config", str(path), "--json")))
    assert answer["tenant_id"] == "beta"
    assert answer["default"] == {"provider": "mock"}
    assert set(answer) >= {"tenant_id", "default", "allowed_models", "created_at", "updated_at"}


def test_create_reads_stdin(cli):
    ok(cli("tenants", "create", "gamma", "--config", "-", stdin="default: {provider: mock}\n"))
    assert yaml.safe_load(ok(cli("tenants", "show", "gamma")))["default"] == {"provider": "mock"}


def test_create_failures_are_one_line_with_the_api_message(cli, config, tmp_path):
    ok(cli("tenants", "create", "acme", "--config", config))
    again = failed(cli("tenants", "create", "acme", "--config", config))
    assert again.endswith("(HTTP 409, tenant_exists)")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: not-a-list\n")
    invalid = failed(cli("tenants", "create", "delta", "--config", str(bad)))
    assert "models" in invalid and invalid.endswith("(HTTP 400, invalid_config)")
    wrong_id = failed(cli("tenants", "create", "bad!id", "--config", config))
    assert "(HTTP 400, invalid_config)" in wrong_id


def test_unusable_config_files_are_usage_errors(cli, config, tmp_path):
    missing = failed(cli("tenants", "create", "x", "--config", str(tmp_path / "no.yaml")), 2)
    assert "--config" in missing and "No such file" in missing
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    assert "mapping" in failed(cli("tenants", "create", "x", "--config", str(listed)), 2)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    assert "neither JSON nor YAML" in failed(
        cli("tenants", "update", "x", "--config", str(broken)), 2
    )
    other = tmp_path / "other.yaml"
    other.write_text("tenant_id: other\ndefault: {provider: mock}\n")
    assert "'other'" in failed(cli("tenants", "create", "x", "--config", str(other)), 2)
    assert failed(cli("tenants", "create", "x"), 2)  # --config is required


def test_list_prints_one_aligned_row_per_tenant(cli, config):
    for tenant_id in ("acme", "beta", "gamma"):
        ok(cli("tenants", "create", tenant_id, "--config", config))
    lines = ok(cli("tenants", "list")).splitlines()
    header, rows = lines[0], lines[1:]
    assert columns(header)[0] == [
        "TENANT_ID", "MODELS", "DEFAULT", "BUDGET_USD", "RPM", "TPM", "UPDATED_AT"
    ]  # fmt: skip
    assert [columns(r)[0][:6] for r in rows] == [
        [t, "gpt-4o-mini", "mock", "100", "600", "200000"] for t in ("acme", "beta", "gamma")
    ]
    assert header.index("MODELS") == rows[0].index("gpt-4o-mini")  # aligned
    assert KEY not in "\n".join(lines)
    limited = ok(cli("tenants", "list", "--limit", "2")).splitlines()
    assert len(limited) == 3
    answer = json.loads(ok(cli("tenants", "list", "--json")))
    assert [t["tenant_id"] for t in answer["data"]] == ["acme", "beta", "gamma"]
    assert answer["next_cursor"] is None


def test_list_follows_next_cursor_to_the_end():
    # An API may answer fewer items than asked; the CLI follows next_cursor.
    standin = StandIn()
    with standin_in_thread(standin):
        from tests.cli.conftest import run_cli

        env = {"PROXY_URL": standin.url, "PROXY_ADMIN_KEY": standin.admin_key}
        for i in range(5):
            ok(run_cli("tenants", "create", f"t{i}", "--config", "-", stdin="{}", **env))
        standin.max_page = 2
        standin.requests.clear()
        rows = ok(run_cli("tenants", "list", **env)).splitlines()[1:]
        assert [r.split()[0] for r in rows] == ["t0", "t1", "t2", "t3", "t4"]
        assert len(standin.requests) == 3 and "cursor=" in standin.requests[-1][1]
        standin.requests.clear()
        three = json.loads(ok(run_cli("tenants", "list", "--limit", "3", "--json", **env)))
        assert [t["tenant_id"] for t in three["data"]] == ["t0", "t1", "t2"]
        assert three["next_cursor"] is not None
        assert [q for _, q in standin.requests] == [
            "/admin/tenants?limit=3",
            f"/admin/tenants?limit=1&cursor={standin.requests[1][1].split('cursor=')[1]}",
        ]


def test_show_prints_the_document_and_json(cli, config):
    ok(cli("tenants", "create", "acme", "--config", config))
    shown = yaml.safe_load(ok(cli("tenants", "show", "acme")))
    assert shown["limits"] == {"rpm": 600, "tpm": 200000}
    answer = json.loads(ok(cli("tenants", "show", "acme", "--json")))
    assert answer == {**shown, "tenant_id": "acme"}
    assert failed(cli("tenants", "show", "nobody")).endswith("(HTTP 404, not_found)")


def test_update_applies_a_merge_patch_and_a_masked_key_keeps_the_stored_one(
    cli, api, config, tmp_path
):
    ok(cli("tenants", "create", "acme", "--config", config))
    patch = tmp_path / "patch.yaml"
    patch.write_text("budget: {monthly_usd: 250}\nlimits: null\n")
    out = ok(cli("tenants", "update", "acme", "--config", str(patch)))
    assert out.startswith("updated tenant acme\n")
    shown = yaml.safe_load(out.partition("\n")[2])
    assert shown["budget"] == {"monthly_usd": 250} and "limits" not in shown
    # Read, edit, write back: the masked key in the document keeps the stored key.
    document = json.loads(ok(cli("tenants", "show", "acme", "--json")))
    document["models"][0]["upstream_model"] = "gpt-4o-mini-2024"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps({"models": document["models"]}))
    answer = json.loads(ok(cli("tenants", "update", "acme", "--json", "--config", str(edited))))
    assert answer["models"][0]["api_key"] == "sk-...1234"
    stored = plain_config(api, "acme")["models"][0]
    assert (stored["api_key"], stored["upstream_model"]) == (KEY, "gpt-4o-mini-2024")
    assert failed(cli("tenants", "update", "nobody", "--config", str(patch))).endswith(
        "(HTTP 404, not_found)"
    )


def test_delete(cli, config):
    ok(cli("tenants", "create", "acme", "--config", config))
    assert ok(cli("tenants", "delete", "acme")) == "deleted tenant acme\n"
    assert failed(cli("tenants", "delete", "acme")).endswith("(HTTP 404, not_found)")
    ok(cli("tenants", "create", "beta", "--config", config))
    assert ok(cli("tenants", "delete", "beta", "--json")) == ""  # a 204 prints nothing
