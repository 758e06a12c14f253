"""/admin/ui/: the dashboard's files, their headers, and where they are not served."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import web

from proxy import keys
from proxy.admin.ui import CSP, UI_DIST, create_ui_app
from proxy.ids import IdGenerator
from tests.conftest import openai_route

PAGE = b'<!doctype html><title>t</title><script type="module" src="main.js"></script>'


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_bytes(PAGE)
    (tmp_path / "main.js").write_text("console.log('x')")
    (tmp_path / "app.css").write_text("body{}")
    (tmp_path / "notes.md").write_text("not served: not a known type")
    return tmp_path


async def ui_client(aiohttp_client, directory: Path):
    app = web.Application()
    app[keys.IDS] = IdGenerator()
    app.add_subapp("/admin/ui/", create_ui_app(directory))
    return await aiohttp_client(app)


async def test_every_file_is_served_with_the_policy(aiohttp_client, built):
    client = await ui_client(aiohttp_client, built)
    for path, kind in [("", "text/html"), ("index.html", "text/html"),
                       ("main.js", "text/javascript"), ("app.css", "text/css")]:  # fmt: skip
        response = await client.get("/admin/ui/" + path)
        assert response.status == 200, path
        assert response.content_type == kind
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert await (await client.get("/admin/ui/")).read() == PAGE


async def test_unknown_files_and_methods_are_json_errors_with_the_policy(aiohttp_client, built):
    client = await ui_client(aiohttp_client, built)
    for path in ("notes.md", "missing.js", "..%2Fsecrets", "a/b"):
        response = await client.get("/admin/ui/" + path)
        assert response.status == 404, path
        assert (await response.json())["error"]["code"] == "not_found"
        assert response.headers["Content-Security-Policy"] == CSP
    posted = await client.post("/admin/ui/")
    assert posted.status == 405
    assert posted.headers["Content-Security-Policy"] == CSP


async def test_a_file_the_browser_has_is_not_sent_again(aiohttp_client, built):
    client = await ui_client(aiohttp_client, built)
    first = await client.get("/admin/ui/main.js")
    again = await client.get("/admin/ui/main.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304
    assert await again.read() == b""


async def test_not_built_the_page_says_how_to_build_it(aiohttp_client, tmp_path):
    client = await ui_client(aiohttp_client, tmp_path)
    response = await client.get("/admin/ui/")
    assert response.status == 200
    text = await response.text()
    assert "make ui" in text
    assert "<script" not in text
    assert response.headers["Content-Security-Policy"] == CSP
    assert (await client.get("/admin/ui/main.js")).status == 404


def test_the_policy_only_narrows_default_src_self():
    directives = [d.strip().split() for d in CSP.split(";")]
    assert directives[0] == ["default-src", "'self'"]
    assert all(values in (["'self'"], ["'none'"]) for _, *values in directives)


@pytest.mark.skipif(not (UI_DIST / "index.html").is_file(), reason="the dashboard is not built")
def test_the_built_page_has_no_inline_script_and_no_handler_attribute():
    page = (UI_DIST / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.S)
    assert scripts and all(body.strip() == "" for body in scripts)
    assert all('src="' in tag for tag in re.findall(r"<script\b[^>]*>", page))
    assert not re.search(r"\son[a-z]+\s*=", page, re.I)
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


async def test_served_in_built_in_store_mode_with_the_admin_key(make_store_proxy):
    gateway = await make_store_proxy()
    page = await gateway.get("/admin/ui/")
    assert page.status == 200
    assert page.headers["Content-Security-Policy"] == CSP
    slashless = await gateway.get("/admin/ui", allow_redirects=False)
    assert (slashless.status, slashless.headers["Location"]) == (308, "/admin/ui/")
    # The files need no key; the API they call still does.
    assert (await gateway.get("/admin/tenants")).status == 401


async def test_not_served_without_the_admin_key(make_store_proxy):
    gateway = await make_store_proxy(PROXY_ADMIN_KEY="")
    assert (await gateway.get("/admin/ui/")).status == 404


async def test_not_served_in_config_api_mode(make_mt_proxy):
    gateway = await make_mt_proxy()  # no store: no tenants to show
    admin = {"Authorization": "Bearer admin-key-for-tests"}
    assert (await gateway.get("/admin/ui/", headers=admin)).status == 404


async def test_not_served_in_static_mode(make_proxy, upstream):
    gateway = await make_proxy({"models": [openai_route(upstream.url)]}, PROXY_ADMIN_KEY="k")
    assert (await gateway.get("/admin/ui/")).status == 404
