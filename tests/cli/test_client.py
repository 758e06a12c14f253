"""What every management command shares: --url and --json anywhere after the command
words, PROXY_URL and PROXY_ADMIN_KEY, exit codes, and one clear line for every
failure on the way (refused, timed out, not JSON, a redirect), never a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from aiohttp import web

from tests.cli.conftest import failed, ok, run_cli
from tests.helpers import free_port
from tests.management_api import serve_in_thread


def test_url_and_json_are_accepted_anywhere_after_the_command_words(api):
    env = {"PROXY_ADMIN_KEY": api.admin_key, "PROXY_URL": f"http://127.0.0.1:{free_port()}"}
    doc = "default: {provider: mock}\n"
    ok(run_cli("tenants", "create", "--url", api.url, "acme", "--config", "-", stdin=doc, **env))
    for args in [
        ("tenants", "show", "--url", api.url, "--json", "acme"),
        ("tenants", "show", "acme", "--json", "--url", api.url),
        ("tenants", "show", "--json", "acme", f"--url={api.url}"),
    ]:
        assert json.loads(ok(run_cli(*args, **env)))["tenant_id"] == "acme"
    minted = json.loads(ok(run_cli("tokens", "mint", "acme", "--url", api.url, "--json", **env)))
    revoke = ("tokens", "revoke", "acme", "--url", api.url, minted["token_id"], "--json")
    assert ok(run_cli(*revoke, **env)) == ""


def test_proxy_url_is_the_default_and_url_wins(api):
    env = {"PROXY_ADMIN_KEY": api.admin_key, "PROXY_URL": api.url + "/"}
    ok(run_cli("tenants", "list", **env))
    dead = f"http://127.0.0.1:{free_port()}"
    assert "connection refused" in failed(run_cli("tenants", "list", "--url", dead, **env))


def test_the_default_url_is_loopback_8080():
    result = run_cli("tenants", "list", "--timeout", "2", PROXY_ADMIN_KEY="k")
    assert "http://127.0.0.1:8080" in result.stderr and result.returncode == 1


def test_the_admin_key_comes_from_the_environment(api):
    missing = failed(run_cli("tenants", "list", PROXY_URL=api.url), 2)
    assert "PROXY_ADMIN_KEY is not set" in missing
    wrong = failed(run_cli("tenants", "list", PROXY_URL=api.url, PROXY_ADMIN_KEY="wrong"))
    assert wrong.endswith("(HTTP 401, invalid_token)") or "(HTTP 401" in wrong


def test_connection_refused_is_one_clear_line():
    url = f"http://127.0.0.1:{free_port()}"
    line = failed(run_cli("tenants", "show", "acme", PROXY_URL=url, PROXY_ADMIN_KEY="k"))
    assert line == (
        f"tenant-proxy: cannot reach the management API at {url}: connection refused "
        "(is the gateway running? --url or PROXY_URL names it)"
    )


def test_a_gateway_that_never_answers_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # connections complete in the backlog; nothing is ever read
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        result = run_cli("tenants", "list", "--timeout", "0.5", PROXY_URL=url, PROXY_ADMIN_KEY="k")
    finally:
        listener.close()
    assert failed(result) == (
        f"tenant-proxy: the management API at {url} did not answer within 0.5 s (--timeout)"
    )


def _stub(handler):
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return serve_in_thread(app)


def test_answers_without_the_error_shape_are_reported_by_status():
    async def bad_gateway(request):
        return web.Response(status=502, text="<html>upstream down</html>")

    with _stub(bad_gateway) as url:
        line = failed(run_cli("tenants", "list", PROXY_URL=url, PROXY_ADMIN_KEY="k"))
    assert line == "tenant-proxy: the gateway answered Bad Gateway (HTTP 502)"


def test_a_success_without_json_is_a_failure():
    async def html(request):
        return web.Response(text="<html>hello</html>")

    with _stub(html) as url:
        line = failed(run_cli("tenants", "show", "a", PROXY_URL=url, PROXY_ADMIN_KEY="k"))
    assert line.endswith("answered HTTP 200 without JSON")


def test_redirects_are_not_followed_so_the_key_goes_nowhere_else():
    seen = []

    async def elsewhere(request):
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"data": [], "next_cursor": None})

    with _stub(elsewhere) as other:

        async def redirect(request):
            raise web.HTTPTemporaryRedirect(other + request.path_qs)

        with _stub(redirect) as url:
            result = run_cli("tenants", "list", PROXY_URL=url, PROXY_ADMIN_KEY="secret-key")
    assert "(HTTP 307)" in failed(result)
    assert seen == []


def test_usage_errors_exit_2():
    for args in [
        ("tenants",),
        ("tenants", "rename", "a"),
        ("tenants", "show"),
        ("tokens", "revoke", "acme"),
        ("tenants", "list", "--limit", "0"),
        ("tenants", "list", "--timeout", "-1"),
        ("cache", "invalidate"),
    ]:
        result = run_cli(*args, PROXY_ADMIN_KEY="k")
        assert result.returncode == 2 and "usage: tenant-proxy" in result.stderr, args
    bad_url = run_cli("tenants", "list", "--url", "ftp://x", PROXY_ADMIN_KEY="k")
    assert failed(bad_url, 2).endswith("--url must be an http:// or https:// URL, not 'ftp://x'")


def test_help_names_every_command_and_imports_nothing_heavy():
    out = ok(run_cli("--help"))
    for command in ("serve", "check-config", "tenants", "tokens", "usage", "cache", "db", "keys"):
        assert f"    {command}" in out
    probe = (
        "import sys, proxy.cli; heavy = {'asyncio', 'aiohttp', 'yaml', 'urllib.request', "
        "'http.client', 'ssl', 'proxy.settings', 'proxy.app', 'dataclasses'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout == "[]\n"
