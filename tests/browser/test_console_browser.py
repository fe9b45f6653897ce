"""The console in a real browser: an auditor signs in with a one-time code, reads the Chinese home
page, switches to English, opens the operation log (操作日志), verifies it and signs out."""

from __future__ import annotations

import re

import pyotp
import pytest

from pdzone.web import demo
from tests.browser.conftest import SHOTS

pytestmark = pytest.mark.browser




def test_auditor_signs_in_reads_the_log_in_both_languages_and_signs_out(live_server, page):
    from playwright.sync_api import expect

    base = live_server
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("登录")

    page.fill("#username", "auditor")
    page.fill("#password", demo.DEMO_PASSWORD)
    page.fill("#otp", pyotp.TOTP(demo.demo_totp_secret("auditor")).now())
    page.click("button[type=submit]")

    expect(page).to_have_url(base + "/")
    expect(page.locator("h1")).to_contain_text("您好，")
    expect(page.locator(".tags")).to_contain_text("审计员")
    expect(page.locator(".tasks")).to_contain_text("审查操作日志")
    # the stylesheet is served locally and applied (the CSP allows only 'self')
    assert page.eval_on_selector(".masthead", "e => getComputedStyle(e).backgroundColor") == "rgb(15, 60, 120)"
    page.screenshot(path=SHOTS / "console-home-zh.png", full_page=True)

    page.click("text=English")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_contain_text("Hello, ")
    expect(page.locator(".tags")).to_contain_text("Auditor")

    page.click("nav >> text=Operation log")
    expect(page).to_have_url(base + "/log")
    expect(page.locator("h1")).to_have_text("Operation log")
    login_row = page.locator("table.events tbody tr", has_text="identity.session.login").filter(
        has_text="user:auditor")
    expect(login_row.first).to_be_visible()
    expect(login_row.first).to_contain_text("sign-in")

    page.click("text=Verify now")
    expect(page.locator(".verify-result")).to_contain_text("Intact")
    page.screenshot(path=SHOTS / "console-log-en.png")

    page.click("text=中文")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("操作日志")
    page.screenshot(path=SHOTS / "console-log-zh.png")

    page.click("text=退出登录")
    expect(page).to_have_url(re.compile(r"/login\?bye=1$"))
    expect(page.locator(".notice")).to_contain_text("您已安全退出")
    page.goto(base + "/log")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Flog$"))
    assert page.context.cookies() and all(c["name"] != "pdz_session" for c in page.context.cookies())
    assert page.problems == []
