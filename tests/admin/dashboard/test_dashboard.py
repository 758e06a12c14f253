"""The dashboard as an operator uses it, in headless chromium against a real gateway."""

from __future__ import annotations

import re
import time
from typing import Any

import openai
import pytest
from playwright.sync_api import expect

from tests.admin.dashboard.conftest import ADMIN_KEY, FOCUS

pytestmark = pytest.mark.slow

HELLO = [{"role": "user", "content": "Hello there"}]


def client_for(gateway_url: str, tenant: str, token: str) -> openai.OpenAI:
    url = f"{gateway_url}/users/{tenant}/v1"
    return openai.OpenAI(base_url=url, api_key=token, max_retries=0, timeout=10)


def test_a_wrong_key_is_refused_and_the_right_one_signs_in(dashboard):
    dashboard.watch.allow_status(401)
    page = dashboard.page
    dashboard.sign_in("not-the-admin-key", accepted=False)
    expect(page.locator("#signin-message")).to_contain_text("Wrong admin key")
    assert page.evaluate("sessionStorage.length") == 0  # a refused key is not kept
    dashboard.screenshot("signin-wrong-key")
    page.fill("#admin-key", ADMIN_KEY)
    page.press("#admin-key", "Enter")
    expect(page.locator("#tenants-table")).to_be_visible()
    stored = page.evaluate("Object.values(sessionStorage)")
    assert stored == [ADMIN_KEY]
    assert page.evaluate("localStorage.length") == 0
    page.click("#signout")
    expect(page.locator("#admin-key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_tenants_are_paged_through_next_cursor(dashboard):
    page = dashboard.page
    dashboard.sign_in()
    rows = page.locator("#tenants-table tbody tr")
    expect(rows).to_have_count(25)
    first_page = rows.first.get_attribute("data-tenant")
    dashboard.screenshot("tenants")
    page.click("#next-page")
    expect(page.locator("#tenants-table caption")).to_contain_text("Page 2")
    expect(rows).to_have_count(25)
    assert rows.first.get_attribute("data-tenant") != first_page
    answer = dashboard.gateway.admin("GET", "tenants?limit=25")
    expected = sorted(t["tenant_id"] for t in answer["data"])
    assert first_page == expected[0]
    assert any("cursor=" in url for url in dashboard.watch.requests)


@pytest.fixture(scope="module")
def focus_today(gateway) -> dict[str, Any]:
    """FOCUS's requests today through the openai SDK (3 + 2 forwarded, 1 refused), once
    the ledger has written them: the usage API's answer for today."""
    token = gateway.admin("POST", f"tenants/{FOCUS}/tokens", {"name": "traffic"})["token"]
    with client_for(gateway.url, FOCUS, token) as client:
        for model in ["gpt-4o-mini"] * 3 + ["claude-haiku"] * 2:
            client.chat.completions.create(model=model, messages=HELLO)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model", messages=HELLO)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the ledger writes in batches, off the request path
        report = gateway.usage(FOCUS, today, today, "day")
        if (report["total"]["requests"], report["total"]["refused"]) == (5, 1):
            return report
        time.sleep(0.05)
    raise AssertionError(f"the ledger did not report today's requests: {report['total']}")


def test_a_tenant_is_found_among_250_and_opened(dashboard, focus_today):
    page = dashboard.page
    dashboard.sign_in()
    expect(page.locator("#tenants-table")).to_be_visible()
    assert page.locator(f'tr[data-tenant="{FOCUS}"]').count() == 0  # not on the first page
    page.fill("#tenant-search", "zebra")
    page.press("#tenant-search", "Enter")
    expect(page.locator("#tenants-table tbody tr")).to_have_count(1)
    row = page.locator(f'tr[data-tenant="{FOCUS}"]')
    # Today's figures and the month's spend, as the usage API states them.
    cells = row.locator("td")
    total, budget = focus_today["total"], focus_today["budget"]
    assert cells.nth(1).inner_text() == f"{total['requests']:,}"
    assert cells.nth(2).inner_text() == f"{total['input_tokens']:,}"
    assert cells.nth(3).inner_text() == f"{total['output_tokens']:,}"
    meter = row.locator("meter")
    assert float(meter.get_attribute("max")) == budget["monthly_usd"]
    assert float(meter.get_attribute("value")) == budget["spent_usd"] > 0
    dashboard.screenshot("tenants-search")
    row.get_by_role("link", name=FOCUS).click()
    expect(page.locator("#tenant-title")).to_have_text(FOCUS)
    expect(page.locator("#document-form")).to_be_visible()


def drawn(page: Any, chart: str) -> dict[tuple[str, str], float]:
    """(day, model) -> value of every bar the chart holds."""
    data = page.evaluate(f"(() => {{ const d = window.__charts.{chart}.data; "
                         "return {labels: d.labels, sets: d.datasets.map((s) => [s.label, s.data])}; })()")  # fmt: skip
    return {
        (day, model): value
        for model, values in data["sets"]
        for day, value in zip(data["labels"], values, strict=True)
        if value is not None
    }


def test_the_charts_draw_the_apis_daily_figures_by_model(dashboard, focus_today):
    page = dashboard.page
    dashboard.sign_in()
    dashboard.open(f"#/tenants/{FOCUS}")
    expect(page.locator("#model-table")).to_be_visible()
    start, end = page.input_value("#range-start"), page.input_value("#range-end")
    daily = dashboard.gateway.usage(FOCUS, start, end, "day,model")
    assert len(daily["groups"]) == 6  # four earlier (day, model) pairs and two today
    for chart, figure in [("cost", "cost_usd"), ("requests", "requests")]:
        expected = {(g["day"], g["model"]): g[figure] for g in daily["groups"]}
        assert drawn(page, chart) == expected, chart
    labels = page.evaluate("window.__charts.cost.data.labels")
    assert (labels[0], labels[-1], len(labels)) == (start, end, 14)
    # The table per model is the API's, its total row the API's total.
    by_model = dashboard.gateway.usage(FOCUS, start, end, "model")
    for group in by_model["groups"]:
        cells = page.locator(f'#model-table tr[data-model="{group["key"]}"] td')
        assert cells.nth(0).inner_text() == f"{group['requests']:,}"
        assert cells.nth(1).inner_text() == f"{group['input_tokens']:,}"
    totals = page.locator("#model-table tfoot tr").first.locator("td")
    assert totals.nth(0).inner_text() == f"{by_model['total']['requests']:,}"
    refused = page.locator("#model-table tfoot tr").nth(1)
    assert refused.locator("td").inner_text() == str(by_model["total"]["refused"])
    dashboard.screenshot("tenant")
    # Another range: one earlier day only.
    one_day = daily["groups"][0]["day"]
    page.fill("#range-start", one_day)
    page.fill("#range-end", one_day)
    page.click("text=Show")
    expect(page.locator("#usage-title")).to_contain_text(f"{one_day} to {one_day}")
    expect(page.locator("#model-table")).to_be_visible()
    again = dashboard.gateway.usage(FOCUS, one_day, one_day, "day,model")
    expected = {(g["day"], g["model"]): g["requests"] for g in again["groups"]}
    assert drawn(page, "requests") == expected


def test_a_minted_token_works_with_the_openai_sdk_until_it_is_revoked(dashboard, request):
    page = dashboard.page
    dashboard.sign_in()
    dashboard.open("#/tenants/tenant-007")
    page.fill("#token-name", "browser-test")
    page.click("#mint-token")
    token = page.input_value("#minted-token")
    assert len(token) >= 32
    expect(page.locator("#copy-token")).to_be_visible()
    row = page.locator("#tokens-table tr", has_text="browser-test")
    expect(row).to_have_count(1)
    assert token not in page.locator("#tokens-table").inner_text()  # listed without the secret

    client = client_for(dashboard.gateway.url, "tenant-007", token)
    request.addfinalizer(client.close)  # its pooled connections, not left to the collector
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert answer.choices[0].message.content

    dashboard.screenshot("tenant-token-minted")
    row.get_by_role("button", name="Revoke browser-test").click()
    expect(page.locator("#minted")).to_contain_text("Revoked browser-test")
    expect(row.locator("td").nth(3)).not_to_have_text("—")
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    # The page keeps showing the token only until it is left.
    dashboard.open("#/tenants")
    dashboard.open("#/tenants/tenant-007")
    expect(page.locator("#tokens-table")).to_be_visible()
    assert page.locator("#minted-token").count() == 0


def test_an_invalid_document_shows_the_servers_error_beside_the_field(dashboard):
    dashboard.watch.allow_status(400)
    page = dashboard.page
    dashboard.sign_in()
    dashboard.open("#/tenants/tenant-010")
    field = page.locator('[data-path="models[1].provider"]')
    field.locator("input").fill("carrier-pigeon")
    page.click("#document-save")
    error = field.locator(".field-error")
    expect(error).to_contain_text("models[1].provider")
    expect(error).to_contain_text("must be one of")
    expect(field.locator("input")).to_have_attribute("aria-invalid", "true")
    dashboard.screenshot("tenant-invalid-document")
    # Nothing was saved; a valid edit is.
    assert dashboard.gateway.admin("GET", "tenants/tenant-010")["models"][1]["provider"] == "mock"
    field.locator("input").fill("mock")
    page.fill('[data-path="limits.rpm"] input', "1200")
    page.click("#document-save")
    expect(page.locator(".editor-message")).to_contain_text("Saved")
    expect(page.locator(".field-error")).to_have_count(0)
    saved = dashboard.gateway.admin("GET", "tenants/tenant-010")
    assert saved["limits"] == {"rpm": 1200, "tpm": 200000}
    expect(page.locator("#limits")).to_contain_text("1,200")


def test_the_overview_reads_metrics_every_few_seconds(dashboard):
    page = dashboard.page
    dashboard.sign_in()
    dashboard.open("#/overview")
    figures = page.locator("#overview-figures")
    expect(figures).to_contain_text("Requests per second", timeout=15_000)
    expect(figures).to_contain_text("Proxy overhead, mean")
    scrapes = [u for u in dashboard.watch.requests if u.endswith("/metrics")]
    assert len(scrapes) >= 2
    dashboard.screenshot("overview")


def test_the_pages_fit_a_phone(dashboard):
    page = dashboard.page
    page.set_viewport_size({"width": 390, "height": 844})
    dashboard.sign_in()
    expect(page.locator("#tenants-table")).to_be_visible()
    assert page.evaluate("document.querySelector('#tenants-table').scrollWidth") <= 390
    dashboard.screenshot("tenants-phone")
    dashboard.open("#/tenants/tenant-003")
    expect(page.locator("#document-form")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the tenant page scrolls sideways on a phone"
    dashboard.screenshot("tenant-phone")


def test_everything_is_reachable_by_keyboard(dashboard):
    page = dashboard.page
    dashboard.open()
    expect(page.locator("#admin-key")).to_be_focused()
    page.keyboard.type(ADMIN_KEY)
    page.keyboard.press("Enter")
    expect(page.locator("#tenants-table")).to_be_visible()
    focused = tab_through(page, "Tab", 20) + tab_through(page, "Shift+Tab", 25)
    assert "Overview" in focused and "Search" in focused and "Sign out" in focused
    assert any(re.fullmatch(r"tenant-\d{3}", text) for text in focused)
    page.get_by_role("link", name="tenant-000").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#tenant-title")).to_have_text("tenant-000")


def tab_through(page: Any, key: str, presses: int) -> list[str]:
    seen = []
    for _ in range(presses):
        page.keyboard.press(key)
        seen.append(
            page.evaluate(
                "(document.activeElement.textContent || document.activeElement.id).trim()"
            )
        )
    return seen
