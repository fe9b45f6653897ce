"""The clean-room workbench in a real browser: the partner analyst signs in, opens 分析工作台, dry-runs a DP query
on social_insurance (level 3: nothing spent), runs it, and sees the noisy rows, the bar chart drawn by ECharts (a
<canvas>), the receipt and the budget meter fall by the query's ε."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.browser.conftest import SHOTS
from tests.browser.test_catalog_browser import settle, sign_in

pytestmark = pytest.mark.browser

SQL = 'SELECT "参保区", COUNT(*) AS n, AVG("个人缴费额") AS mean\nFROM social_insurance\nGROUP BY "参保区"'


def spent(page) -> Decimal:
    text = page.locator("#budget-grant").inner_text()
    return Decimal(re.search(r"已用 ε ([\d.]+) / 20", text).group(1))


def test_analyst_dry_runs_and_runs_a_query_and_sees_chart_receipt_and_budget(live_server, page):
    from playwright.sync_api import expect

    base = live_server
    sign_in(page, base, "analyst")
    page.click("nav >> text=分析工作台")
    expect(page).to_have_url(base + "/console/workbench")
    expect(page.locator("h1")).to_have_text("分析工作台")
    expect(page.locator("#schema-social_insurance")).to_contain_text('"参保区"')
    expect(page.locator("#sql")).to_have_value(re.compile(r"FROM social_insurance"))
    before = spent(page)

    page.fill("#sql", SQL)
    page.click("#btn-dry-run")
    expect(page.locator("#dry-run")).to_contain_text("试算结果（未读取数据，未扣预算）")
    expect(page.locator("#dry-split tbody tr")).to_have_count(3)  # noisy count; the mean's noisy sum and count
    expect(page.locator("#sql")).to_have_value(SQL)
    assert spent(page) == before
    expect(page.locator("#result-chart")).to_have_count(0)

    page.click("#btn-run")
    rows = page.locator("#result-table tbody tr")
    expect(rows).to_have_count(10)  # every declared district, zeros included
    expect(rows.first.locator("td").first).to_have_text("东城区")
    canvas = page.locator("#result-chart canvas")
    expect(canvas.first).to_be_visible()  # ECharts drew the bars
    expect(page.locator("#result-chart")).to_have_attribute("data-rendered", "1")
    box = canvas.first.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 200
    receipt = page.locator("#receipt")
    expect(receipt).to_contain_text("审计事件编号")
    expect(receipt).to_contain_text("差分隐私（OpenDP 噪声）")
    expect(page.locator("#receipt-spent")).to_have_text("1")
    expect(page.locator("#receipt-noise tbody tr")).to_have_count(3)
    assert spent(page) == before + 1
    assert page.locator("#meter-grant").get_attribute("value") == f"{float(before + 1)}"
    event_id = page.locator("#receipt-event").inner_text().split()[0]
    expect(page.locator("#releases-table tbody tr").first.locator("td").first).to_contain_text(event_id)
    page.screenshot(path=SHOTS / "workbench-run-zh.png", full_page=True)
    assert page.problems == []

    page.fill("#sql", "SELECT * FROM social_insurance")
    page.click("#btn-run")
    expect(page.locator("#wb-error")).to_contain_text("不允许 SELECT *")
    expect(page.locator("#wb-error-code")).to_have_text("select_star")
    assert spent(page) == before + 1
    settle(page)
    # the refusal's page is itself a 403 response, which chromium reports; nothing else went wrong
    assert page.problems == ["Failed to load resource: the server responded with a status of 403 (Forbidden)"]
