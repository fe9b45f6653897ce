"""The console (server-rendered pages): sign-in, language, CSRF, permissions, forms, the operation log.

Each test gets its own copy of a demo database seeded once per session (seeding hashes eleven
passwords, which is slow): a fresh SQLite file and key store in the test's tmp_path.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
import time
from pathlib import Path

import pyotp
import pytest
from faker import Faker
from fastapi.testclient import TestClient
from sqlalchemy import text
from stdnum.cn import ric

import pdzone.db
from pdzone.audit import queries as aq
from pdzone.config import Settings
from pdzone.identity import queries as idq
from pdzone.identity.auth import TOKEN_CACHE
from pdzone.web import demo, i18n
from pdzone.web.app import create_app
from pdzone.web.context import LANG_COOKIE, SESSION_COOKIE
from pdzone.web.runtime import Runtime

TEMPLATES = Path(pdzone.web.__file__).parent / "templates"

def _runtime(d: Path) -> Runtime:
    return Runtime.from_settings(Settings(data_dir=d, database_url=f"sqlite:///{d}/t.db"))


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("seeded")
    rt = _runtime(d)
    pdzone.db.upgrade(rt.store)
    demo.seed(rt)
    rt.store.dispose()
    return d


def copy_of(seeded: Path, into: Path) -> Runtime:
    """A runtime on a copy of a seeded data dir (database, key store, sealed datasets)."""
    for f in seeded.iterdir():
        if f.is_dir():
            shutil.copytree(f, into / f.name)
        elif not f.name.endswith(".lock"):
            shutil.copy2(f, into / f.name)
    return _runtime(into)


@pytest.fixture
def rt(seeded_dir: Path, tmp_path: Path):
    runtime = copy_of(seeded_dir, tmp_path)
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def client(rt: Runtime):
    with TestClient(create_app(rt, maintain_log=False)) as c:
        yield c


def other_client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt, maintain_log=False))


# --- helpers -------------------------------------------------------------------------------

def csrf_of(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, "no CSRF field on the page"
    return m.group(1)


def otp_for(username: str, *, later: int = 0) -> str:
    return pyotp.TOTP(demo.demo_totp_secret(username)).at(time.time() + later)


def login(c: TestClient, username: str, otp: str | None = None, *, password: str = demo.DEMO_PASSWORD):
    form = {"username": username, "password": password, "csrf": csrf_of(c.get("/login").text), "next": "/"}
    if otp is not None:
        form["otp"] = otp
    return c.post("/login", data=form, follow_redirects=False)


def signed_in(c: TestClient, username: str) -> TestClient:
    mfa = username in ("sysadmin", "secadmin", "auditor")
    r = login(c, username, otp_for(username) if mfa else None)
    assert r.status_code == 303, r.text
    return c


def page_text(r) -> str:
    """The visible text, entities decoded, for 'does this appear anywhere' checks."""
    return html.unescape(r.text)


def events(rt: Runtime, **filters):
    with rt.store.sessions() as s:
        return [aq.event_json(e) for e in aq.list_events(s, {None}, limit=1000, **filters)]


def make_id_number(birth: str = "19900307", seq: str = "123") -> str:
    partial = "110105" + birth + seq + "0"
    return partial[:-1] + ric.calc_check_digit(partial)


# --- sign-in and language ------------------------------------------------------------------

def test_login_page_is_chinese_by_default_and_english_after_the_switch(client):
    r = client.get("/login")
    assert r.status_code == 200
    assert '<html lang="zh-CN">' in r.text
    assert "用户名" in r.text and "动态口令" in r.text

    r = client.get("/lang/en", params={"next": "/login"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.cookies.get(LANG_COOKIE) == "en"
    r = client.get("/login")
    assert '<html lang="en">' in r.text
    assert "Username" in r.text and "One-time code" in r.text and "用户名" not in r.text

    client.get("/lang/zh", params={"next": "https://evil.example/"})
    assert client.cookies.get(LANG_COOKIE) == "zh"
    assert client.get("/login").text.count('lang="zh-CN"') >= 1


def test_language_switch_only_goes_back_to_local_pages(client):
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = client.get("/lang/en", params={"next": bad}, follow_redirects=False)
        assert r.headers["location"] == "/"


def test_console_pages_redirect_to_login_when_signed_out(client):
    r = client.get("/log", params={"unreviewed": "1"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=%2Flog%3Funreviewed%3D1")


def test_auditor_signs_in_with_otp_and_lands_on_their_home_page(client, rt):
    r = login(client, "auditor", otp_for("auditor"))
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    home = client.get("/")
    assert home.status_code == 200
    with rt.store.sessions() as s:
        me = next(u for u in idq.list_users(s) if u.username == "auditor")
    assert f"您好，{me.real_name}" in home.text
    assert "审计员" in home.text and "北京金融大数据有限公司" in home.text
    assert 'href="/log?unreviewed=1"' in home.text
    assert 'href="/directory"' not in home.text  # no directory rights, no link


def test_wrong_password_shows_the_error_and_sets_no_cookie(client, rt):
    r = login(client, "provider", password="not-the-password")
    assert r.status_code == 401
    assert "用户名或密码错误" in r.text
    assert "Traceback" not in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert client.cookies.get(SESSION_COOKIE) is None
    denied = events(rt, action="identity.session.login", outcome="denied")
    assert any(e["details"].get("reason") == "bad_credentials" for e in denied)

    client.get("/lang/en")
    r = login(client, "provider", password="still-wrong")
    assert r.status_code == 401 and "wrong username or password" in r.text


def test_repeated_failures_throttle_the_sign_in_like_a_wrong_password(client, rt):
    for _ in range(rt.settings.lockout_threshold):
        assert login(client, "provider", password="wrong-password").status_code == 401
    r = login(client, "provider")  # even the right password, while throttled: the same page as a wrong one
    assert r.status_code == 401 and "用户名或密码错误，或尝试过于频繁" in r.text
    assert client.cookies.get(SESSION_COOKIE) is None


def test_admin_without_otp_is_refused(client):
    r = login(client, "sysadmin")
    assert r.status_code == 401
    assert "该账号须输入动态口令" in r.text
    assert client.cookies.get(SESSION_COOKIE) is None
    step = int(time.time() // 30)
    valid = {pyotp.TOTP(demo.demo_totp_secret("sysadmin")).at(s * 30) for s in (step - 1, step, step + 1, step + 2)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in valid)
    r = login(client, "sysadmin", wrong)
    assert r.status_code == 401 and "动态口令错误" in r.text
    assert client.cookies.get(SESSION_COOKIE) is None


def test_a_used_otp_is_not_accepted_twice(client, rt):
    code = otp_for("auditor")
    assert login(client, "auditor", code).status_code == 303
    with other_client(rt) as second:
        r = login(second, "auditor", code)
        assert r.status_code == 401 and "动态口令错误或已使用" in r.text
        assert login(second, "auditor", otp_for("auditor", later=30)).status_code == 303


def test_login_form_without_its_csrf_token_is_refused(client):
    client.get("/login")
    r = client.post("/login", data={"username": "provider", "password": demo.DEMO_PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 403
    assert "登录表单已过期" in r.text
    assert client.cookies.get(SESSION_COOKIE) is None


# --- CSRF and permissions -----------------------------------------------------------------

def test_console_post_without_csrf_is_refused_and_changes_nothing(client, rt):
    signed_in(client, "sysadmin")
    with rt.store.sessions() as s:
        before = len(idq.list_orgs(s))
    uscc = demo.make_uscc(Faker())
    for form in ({}, {"csrf": "0" * 64}):
        r = client.post("/directory/orgs", data={**form, "name": "北京测试机构", "kind": "partner", "uscc": uscc})
        assert r.status_code == 403
        assert "表单校验失败" in r.text
    with rt.store.sessions() as s:
        assert len(idq.list_orgs(s)) == before
    refused = events(rt, outcome="denied", actor="user:sysadmin")
    assert {e["action"] for e in refused} == {"POST /directory/orgs"}
    with rt.store.sessions() as s:  # repeated denials are one event and a count (docs/audit-log.md)
        counts = aq.denial_counts(s, [e["id"] for e in refused])
    assert sum(counts.get(e["id"], 1) for e in refused) == 2
    assert refused[0]["details"]["reason"] == "csrf_failed"
    r = client.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200  # still signed in


def test_system_admin_cannot_open_the_operation_log_but_the_auditor_can(client, rt):
    signed_in(client, "sysadmin")
    r = client.get("/log")
    assert r.status_code == 403
    assert "无权访问" in r.text and "没有执行此操作的权限" in r.text and "<code>forbidden</code>" in r.text
    assert 'href="/log"' not in client.get("/").text
    denied = events(rt, outcome="denied", actor="user:sysadmin")
    assert any(e["action"] == "audit.log.read" for e in denied)

    with other_client(rt) as auditor:
        signed_in(auditor, "auditor")
        r = auditor.get("/log")
        assert r.status_code == 200
        assert "操作日志" in r.text
        assert "identity.session.login" in r.text and "user:auditor" in r.text
        assert "audit.log.read" in r.text  # the system admin's denied attempt is there to see
        r = auditor.get("/log", params={"outcome": "denied", "actor": "sysadmin"})
        assert "audit.log.read" in r.text and "user:auditor" not in r.text


def test_supervisor_sees_only_their_zones_events(client, rt):
    signed_in(client, "supervisor")
    r = client.get("/log")
    assert r.status_code == 200
    assert "北京市公共数据综合基础专区" in r.text
    assert "bj_transport" not in r.text and "北京市交通领域公共数据专区" not in r.text
    assert "identity.session.login" not in r.text  # city-level events are outside the zone


# --- directory -----------------------------------------------------------------------------

def test_creating_an_org_with_a_bad_uscc_shows_the_message_and_creates_nothing(client, rt):
    signed_in(client, "sysadmin")
    page = client.get("/directory")
    with rt.store.sessions() as s:
        before = len(idq.list_orgs(s))
    r = client.post("/directory/orgs", data={"csrf": csrf_of(page.text), "name": "北京某某科技有限公司",
                                            "kind": "partner", "uscc": "91110105MA00000000"})
    assert r.status_code == 422
    assert "统一社会信用代码无效" in r.text
    assert 'value="北京某某科技有限公司"' in r.text  # the form keeps what was typed
    with rt.store.sessions() as s:
        assert len(idq.list_orgs(s)) == before
    assert not [e for e in events(rt, action="identity.org.create") if e["actor"] == "user:sysadmin"]

    good = demo.make_uscc(Faker())
    r = client.post("/directory/orgs", data={"csrf": csrf_of(page.text), "name": "北京某某科技有限公司",
                                            "kind": "partner", "uscc": good}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/directory?ok=org_created"
    r = client.get(r.headers["location"])
    assert "机构已创建" in r.text and good in r.text
    assert [e for e in events(rt, action="identity.org.create") if e["actor"] == "user:sysadmin"]


def test_pages_never_show_a_full_id_number(client, rt):
    signed_in(client, "sysadmin")
    csrf = csrf_of(client.get("/directory").text)
    id_number = make_id_number()
    masked = id_number[:6] + "*" * 8 + id_number[-4:]
    form = {"csrf": csrf, "username": "wang.fang", "real_name": "王芳", "id_number": id_number,
            "mobile": "13912345678", "org": "北京金融大数据有限公司", "password": "Correct-Horse-42"}
    r = client.post("/directory/users", data={**form, "mobile": "12345"})
    assert r.status_code == 422 and "手机号码须为 11 位" in r.text
    assert id_number not in r.text and "13912345678" not in r.text
    r = client.post("/directory/users", data=form, follow_redirects=False)
    assert r.status_code == 303
    directory = client.get("/directory")
    assert "王芳" in directory.text and masked in page_text(directory)
    assert id_number not in directory.text and "13912345678" not in directory.text
    assert "139****5678" in page_text(directory)

    with other_client(rt) as auditor:
        signed_in(auditor, "auditor")
        log = auditor.get("/log", params={"action": "identity.user.create"})
        assert masked in page_text(log)
        assert id_number not in log.text
    with other_client(rt) as sec:
        signed_in(sec, "secadmin")
        for path in ("/directory", "/filings"):
            assert id_number not in sec.get(path).text


def test_security_admin_reads_the_directory_but_cannot_add(client, rt):
    signed_in(client, "secadmin")
    r = client.get("/directory")
    assert r.status_code == 200 and "北京金融大数据有限公司" in r.text
    assert 'action="/directory/orgs"' not in r.text
    r = client.post("/directory/orgs", data={"csrf": csrf_of(r.text), "name": "x", "kind": "partner",
                                            "uscc": demo.make_uscc(Faker())})
    assert r.status_code == 403


# --- filing and roles ----------------------------------------------------------------------

def test_security_admin_grants_a_role_and_files_the_person(client, rt):
    signed_in(client, "secadmin")
    page = client.get("/filings")
    assert page.status_code == 200 and "已备案" in page.text
    csrf = csrf_of(page.text)
    r = client.post("/filings/roles", data={"csrf": csrf, "username": "expert", "role": "operator_staff",
                                            "zone": "bj_transport"}, follow_redirects=False)
    assert r.status_code == 303
    pending = client.get("/filings")
    assert "role operator_staff" in pending.text  # the filing request the grant opened

    r = client.post("/filings/decide", data={"csrf": csrf, "username": "expert", "zone": "bj_transport",
                                             "decision": "file", "reason": " "})
    assert r.status_code == 422 and "须说明理由" in r.text
    assert not events(rt, action="identity.filing.file", actor="user:secadmin")

    r = client.post("/filings/decide", data={"csrf": csrf, "username": "expert", "zone": "bj_transport",
                                             "decision": "file", "reason": "已核验劳动合同与保密协议"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/filings?ok=filed"
    filed = events(rt, action="identity.filing.file", actor="user:secadmin")
    assert len(filed) == 1
    assert filed[0]["zone"] == "bj_transport" and filed[0]["details"]["reason"] == "已核验劳动合同与保密协议"
    assert filed[0]["outcome"] == "success"
    with rt.store.sessions() as s:
        rows = idq.list_filings(s, {None}, status="filed")
        assert any(u.username == "expert" and f.zone_code == "bj_transport" for f, u in rows)


def test_revoking_a_filing_and_separation_of_duties_errors_show_inline(client, rt):
    signed_in(client, "secadmin")
    csrf = csrf_of(client.get("/filings").text)
    r = client.post("/filings/decide", data={"csrf": csrf, "username": "operator", "zone": "bj_comprehensive",
                                             "decision": "revoke", "reason": "离职"}, follow_redirects=False)
    assert r.status_code == 303
    assert events(rt, action="identity.filing.revoke", actor="user:secadmin")
    r = client.post("/filings/roles", data={"csrf": csrf, "username": "auditor", "role": "system_admin",
                                            "zone": ""})
    assert r.status_code == 403 and "三权分立" in r.text
    refused = events(rt, outcome="denied", actor="user:secadmin")
    assert refused and refused[0]["details"]["reason"] == "separation_of_duties"
    assert 'action="/filings/roles"' in r.text  # the form is still there, not a bare error page


def test_role_grant_that_enrolls_mfa_shows_the_secret_once(client, rt):
    signed_in(client, "secadmin")
    csrf = csrf_of(client.get("/filings").text)
    r = client.post("/filings/roles", data={"csrf": csrf, "username": "expert", "role": "auditor", "zone": ""})
    assert r.status_code == 200
    m = re.search(r'class="secret-value">([A-Z2-7]+)<', r.text)
    assert m and len(m.group(1)) >= 16
    assert r.headers["cache-control"] == "no-store"
    assert m.group(1) not in client.get("/filings").text


# --- operation log -------------------------------------------------------------------------

def test_auditor_marks_an_event_reviewed(client, rt):
    signed_in(client, "auditor")
    page = client.get("/log", params={"unreviewed": "1"})
    target = next(e for e in events(rt, action="identity.session.login") if e["actor"] == "user:auditor")
    r = client.post("/log/reviews", data={"csrf": csrf_of(page.text), "event_id": target["id"], "verdict": "ok",
                                          "comment": "本人登录，正常", "back": "unreviewed=1"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/log?unreviewed=1&ok=reviewed"
    with rt.store.sessions() as s:
        reviews = aq.reviews_for(s, [target["id"]])[target["id"]]
    assert [(x.verdict, x.comment, x.reviewer) for x in reviews] == [("ok", "本人登录，正常", "user:auditor")]
    assert events(rt, action="audit.event.review")
    shown = client.get("/log", params={"action": "identity.session.login"})
    assert "本人登录，正常" in shown.text
    unreviewed = client.get("/log", params={"unreviewed": "1"})
    assert f'id="event-{target["id"]}"' not in unreviewed.text

    r = client.post("/log/reviews", data={"csrf": csrf_of(page.text), "event_id": target["id"], "verdict": "ok",
                                          "comment": "   "})
    assert r.status_code == 422 and "审查意见不能为空" in r.text


def test_supervisor_cannot_review(client, rt):
    signed_in(client, "supervisor")
    page = client.get("/log")
    assert "标记已审查" not in page.text
    r = client.post("/log/reviews", data={"csrf": csrf_of(page.text), "event_id": 1, "verdict": "ok",
                                          "comment": "x"})
    assert r.status_code == 403
    with rt.store.sessions() as s:
        assert aq.reviews_for(s, [1]) == {}


def test_verify_now_reports_intact_then_tampered(client, rt):
    signed_in(client, "auditor")
    csrf = csrf_of(client.get("/log").text)
    r = client.post("/log/verify", data={"csrf": csrf})
    assert r.status_code == 200
    assert "完整" in r.text and "检查点验证通过" in r.text
    assert re.search(r"树大小：[1-9]\d*", r.text)

    with rt.store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'user:someone-else' WHERE seq = 2"))
    r = client.post("/log/verify", data={"csrf": csrf})
    assert "已被篡改" in r.text and "首个异常事件序号：2" in r.text

    client.get("/lang/en", params={"next": "/log"})
    r = client.post("/log/verify", data={"csrf": csrf})
    assert "Tampered" in r.text and "no longer matches its leaf hash" in r.text


def test_checkpoint_and_inclusion_proof_downloads(client, rt):
    signed_in(client, "supervisor")
    page = client.get("/checkpoints")
    assert page.status_code == 200 and "签名检查点" in page.text
    r = client.get("/checkpoints/latest.json")
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith('attachment; filename="pdzone-checkpoint-')
    doc = json.loads(r.content)
    assert doc["format"] == "pdzone-checkpoint-v1" and doc["tree_size"] > 0
    r = client.get("/log/proof", params={"seq": 1})
    assert r.headers["content-disposition"].startswith('attachment; filename="pdzone-inclusion-proof-1-')
    proof = json.loads(r.content)
    assert proof["seq"] == 1 and proof["root_hash"] == doc["root_hash"] and proof["proof"]
    r = client.get("/log/proof", params={"seq": 10**6})
    assert r.status_code == 422 and "事件序号超出树大小" in r.text


def test_supervisor_registers_a_witness_key_and_countersigns(client, rt):
    signed_in(client, "supervisor")
    page = client.get("/checkpoints")
    csrf = csrf_of(page.text)
    key = rt.log_suite.generate_private_key()
    r = client.post("/checkpoints/witness-key", data={"csrf": csrf, "public_pem": key.public().pem.decode(),
                                                      "suite": rt.log_suite.name})
    assert r.status_code == 200 and key.public().key_id in r.text
    cp = json.loads(client.get("/checkpoints/latest.json").content)
    r = client.post("/checkpoints/cosign", data={"csrf": csrf, "checkpoint_id": cp["id"],
                                                 "key_id": key.public().key_id, "signature": "00" * 64})
    assert r.status_code == 422 and "会签签名验证失败" in r.text
    sig = key.sign(cp["body"].encode()).hex()
    r = client.post("/checkpoints/cosign", data={"csrf": csrf, "checkpoint_id": cp["id"],
                                                 "key_id": key.public().key_id, "signature": sig},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"])
    assert "会签已记录" in page.text and "您已会签" in page.text and key.public().key_id in page.text
    assert events(rt, action="audit.checkpoint.cosign", actor="user:supervisor")


# --- sessions ------------------------------------------------------------------------------

def test_logout_ends_the_session(client, rt):
    signed_in(client, "provider")
    token = client.cookies.get(SESSION_COOKIE)
    r = client.post("/logout", data={"csrf": csrf_of(client.get("/").text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?bye=1"
    assert client.cookies.get(SESSION_COOKIE) is None
    assert "您已安全退出" in client.get("/login?bye=1").text
    assert events(rt, action="identity.session.logout", actor="user:provider")
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_an_idle_session_goes_back_to_login(client, rt):
    signed_in(client, "provider")
    assert client.get("/", follow_redirects=False).status_code == 200
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with rt.store.engine.begin() as conn:
        conn.execute(text("UPDATE access_tokens SET last_used_at = :t"), {"t": long_ago.replace(tzinfo=None)})
    TOKEN_CACHE.clear()
    r = client.get("/log", follow_redirects=False)
    assert r.status_code == 303 and "expired=1" in r.headers["location"]
    assert "登录已过期" in client.get(r.headers["location"]).text


def test_home_pages_show_each_roles_tasks(client, rt):
    signed_in(client, "supervisor")
    r = client.get("/")
    assert "监管人员" in r.text and "北京市公共数据综合基础专区" in r.text
    assert 'href="/log?zone=bj_comprehensive"' in r.text and "待会签的检查点：1 个" in r.text
    with other_client(rt) as sec:
        signed_in(sec, "secadmin")
        r = sec.get("/")
        assert "安全管理员" in r.text and "待备案人员：0 人" in r.text and 'href="/filings#grant"' in r.text
    with other_client(rt) as sysadmin:
        signed_in(sysadmin, "sysadmin")
        r = sysadmin.get("/")
        assert "系统管理员" in r.text and "管理机构与用户账号" in r.text and 'href="/log' not in r.text


def test_a_role_without_console_tasks_still_gets_a_home_page(client):
    signed_in(client, "expert")  # the partner analyst has the clean-room workbench (test_console_workbench.py)
    r = client.get("/")
    assert r.status_code == 200 and "评审专家" in r.text and "目前没有需要在控制台处理的事项" in r.text
    assert client.get("/filings").status_code == 403


# --- the pages themselves ------------------------------------------------------------------

def test_pages_obey_the_csp_no_inline_script_or_style(client):
    signed_in(client, "auditor")
    for path in ("/", "/log", "/checkpoints", "/login"):
        r = client.get(path)
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "<script" not in r.text and "style=" not in r.text and "<style" not in r.text
        for src in re.findall(r'(?:href|src)="([^"]+)"', r.text):
            assert not src.startswith(("http:", "https:", "//")), src
    assert client.get("/static/console.css").status_code == 200
    assert "WenQuanYi Micro Hei" in client.get("/static/console.css").text


def test_every_message_id_used_in_templates_exists():
    used = set()
    for path in TEMPLATES.rglob("*.html"):
        used |= set(re.findall(r"""_\(\s*'([a-z0-9_.]+)'\s*[,)]""", path.read_text(encoding="utf-8")))
    assert used, "no message ids found"
    # ids built in templates from a prefix and a value
    used |= {f"filing.{st}" for st in ("pending", "filed", "revoked")} | {f"outcome.{o}" for o in ("success",
             "denied", "failed")} | {"verdict.ok", "verdict.concern"} | {f"log.verify.{st}" for st in (
             "intact", "tampered", "unverifiable")} | {f"error.title.{n}" for n in (401, 403, 404, 409, 422, 500)}
    assert sorted(used - set(i18n.MESSAGES)) == []
    for key, (zh, en) in i18n.MESSAGES.items():
        assert zh and en, key


def test_repeated_denials_show_as_one_row_with_their_count_in_the_log(client, rt):
    signed_in(client, "sysadmin")
    for _ in range(7):  # a client probing the log again and again
        assert client.get("/log").status_code == 403
    denied = [e for e in events(rt, outcome="denied", actor="user:sysadmin") if e["action"] == "audit.log.read"]
    assert 1 <= len(denied) <= 2  # two only if a denial window ended in between
    with other_client(rt) as auditor:
        signed_in(auditor, "auditor")
        r = auditor.get("/log", params={"outcome": "denied", "actor": "sysadmin"})
        assert r.status_code == 200 and "denial-count" in r.text
        assert ("7 次" in page_text(r)) or len(denied) == 2
