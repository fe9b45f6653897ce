"""The catalog in a real browser: filed operator staff open the catalog (数据目录), open social_insurance, see
its lineage drawn by ECharts (a <canvas>), ask for a masked preview, and import a GBK file through the wizard."""

from __future__ import annotations

import re

import pytest

from pdzone.web import demo
from tests.browser.conftest import SHOTS

pytestmark = pytest.mark.browser




def settle(page) -> None:
    """Let the server's background log maintenance integrate this test's events before the next test signs in."""
    page.wait_for_timeout(2000)


def sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", demo.DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


def test_operator_opens_a_dataset_sees_its_lineage_chart_and_a_masked_preview(live_server, page):
    from playwright.sync_api import expect

    base = live_server
    sign_in(page, base, "operator")
    page.click("nav >> text=数据目录")
    expect(page).to_have_url(base + "/catalog")
    expect(page.locator("h1")).to_have_text("数据目录")
    expect(page.locator(".dataset-item")).to_have_count(3)  # the operator's zone only
    page.screenshot(path=SHOTS / "catalog-list-zh.png", full_page=True)

    page.click("text=社会保险缴费记录")
    expect(page).to_have_url(base + "/catalog/social_insurance")
    expect(page.locator(".suggestion-note")).to_contain_text("建议，须人工确认")
    expect(page.locator("table.schema")).to_contain_text("居民身份证号码")
    canvas = page.locator("#lineage-chart canvas")
    expect(canvas.first).to_be_visible()  # ECharts drew the graph (the dataset alone: no lineage yet)
    expect(page.locator("#lineage-chart")).to_have_attribute("data-rendered", "1")
    box = canvas.first.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 200

    page.click("#preview-button")
    expect(page).to_have_url(base + "/catalog/social_insurance/preview#preview")
    rows = page.locator("table.preview-table tbody tr")
    expect(rows).to_have_count(20)
    first_id = rows.first.locator("td").first.inner_text()
    assert re.fullmatch(r"[0-9a-f]{16,}", first_id), first_id  # a pseudonym, not an ID number
    expect(page.locator("table.preview-table thead")).to_contain_text("假名化")
    expect(page.locator("#receipt")).to_contain_text("审计事件编号")
    expect(canvas.first).to_be_visible()
    page.screenshot(path=SHOTS / "catalog-dataset-zh.png", full_page=True)
    settle(page)
    assert page.problems == []


def test_import_wizard_queues_a_job_whose_page_follows_it_to_the_dataset(live_server, page, tmp_path):
    from playwright.sync_api import expect

    from tests.web.test_console_catalog import _gbk_csv

    base = live_server
    sign_in(page, base, "operator")
    page.goto(base + "/catalog/import")
    expect(page.locator("h1")).to_have_text("导入数据集")
    page.fill("#import-name", "social_insurance")  # what the form can tell is shown in place, the form kept
    page.set_input_files("#import-file", str(_write(tmp_path / "a.csv", _gbk_csv())))
    page.click("#import-submit")
    expect(page.locator("#import-error")).to_contain_text("数据集名已被使用")
    expect(page.locator("#import-name")).to_have_value("social_insurance")

    # a bad file: queued, then the job's page (refreshed by its script) names the row
    bad = _write(tmp_path / "坏文件.csv", "姓名,金额\n张三,1\n李四,2,3\n".encode("gbk"))
    page.set_input_files("#import-file", str(bad))
    page.fill("#import-name", "browser_bad")
    page.click("#import-submit")
    page.wait_for_url(re.compile(r".*/console/jobs/\d+\?ok=import_queued$"))
    expect(page.locator("#job-error")).to_contain_text("第 3 行", timeout=30_000)
    expect(page.locator("#job-status")).to_have_text("未完成")

    page.goto(base + "/catalog/import")
    page.set_input_files("#import-file", str(_write(tmp_path / "人员名单.csv", _gbk_csv())))
    page.fill("#import-name", "browser_people")
    page.fill("#import-title", "浏览器上传的人员名单")
    page.click("#import-submit")  # the upload's progress shows briefly: the request only queues the import
    page.wait_for_url(re.compile(r".*/console/jobs/\d+\?ok=import_queued$"))
    link = page.locator("#job-dataset-link")
    expect(link).to_be_visible(timeout=30_000)
    page.screenshot(path=SHOTS / "catalog-import-job-zh.png", full_page=True)
    link.click()
    page.wait_for_url(base + "/catalog/browser_people?ok=imported")
    expect(page.locator("table.schema")).to_contain_text("居民身份证号码")
    expect(page.locator(".suggestion-note")).to_contain_text("建议，须人工确认")
    page.screenshot(path=SHOTS / "catalog-imported-zh.png", full_page=True)
    settle(page)
    # the refused form's 409 is reported by the browser as a failed load; nothing else went wrong
    assert [p for p in page.problems if "status of 409" not in p] == []


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
