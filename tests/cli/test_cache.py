"""`tenant-proxy cache invalidate USER_ID`."""

from __future__ import annotations

from tests.cli.conftest import failed, ok, run_cli


def test_invalidate(cli):
    assert (
        ok(cli("cache", "invalidate", "alice")) == "invalidated the cached config of user alice\n"
    )
    assert ok(cli("cache", "invalidate", "alice", "--json")) == ""  # a 204 prints nothing


def test_the_stand_in_saw_it(standin_api):
    env = {"PROXY_URL": standin_api.url, "PROXY_ADMIN_KEY": standin_api.admin_key}
    ok(run_cli("cache", "invalidate", "bob", **env))
    assert standin_api.invalidated == ["bob"]


def test_a_bad_user_id_is_the_api_error(cli):
    assert "(HTTP 400" in failed(cli("cache", "invalidate", "bad!id"))
