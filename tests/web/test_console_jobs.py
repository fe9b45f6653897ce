"""The console's import as a background job: the upload is checked and queued, the job's page shows its status
and progress, then links to the dataset or shows the import's error (naming the row) with nothing left behind;
a job is seen only by its creator and by those who may import in its zone.

Each test gets its own copy of a demo database seeded once per session, as in test_console_catalog.py. Most
tests run the queue by hand (`drain`) with an app whose own worker is off, so that each state can be seen; one
lets the server's in-process worker do it.
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pdzone import jobs
from pdzone.audit.events import os_actor
from pdzone.catalog import actions as cat
from pdzone.errors import NotFound
from pdzone.identity import actions as ida
from pdzone.identity.models import Organization
from pdzone.jobs import spool
from pdzone.web.app import create_app
from pdzone.web.runtime import Runtime
from tests import factories as f
from tests.web.test_console import copy_of, csrf_of, events, login, page_text, signed_in
from tests.web.test_console_catalog import _gbk_csv, _import


@pytest.fixture
def rt(seeded_dir: Path, tmp_path: Path):
    runtime = copy_of(seeded_dir, tmp_path)
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def client(rt: Runtime):
    """The console without its in-process worker: jobs wait until the test runs them."""
    with TestClient(create_app(rt, maintain_log=False, run_jobs=False)) as c:
        yield c


def other_client(rt: Runtime) -> TestClient:
    return TestClient(create_app(rt, maintain_log=False, run_jobs=False))


def drain(rt: Runtime) -> int:
    return jobs.Worker.from_settings(rt.store, rt, rt.settings).drain()


def job_path(r) -> str:
    assert r.status_code == 303, page_text(r)
    m = re.fullmatch(r"(/console/jobs/\d+)\?ok=import_queued", r.headers["location"])
    assert m, r.headers["location"]
    return m.group(1)


def spooled(rt: Runtime) -> list[Path]:
    d = rt.settings.data_dir / spool.SPOOL_DIR
    return sorted(d.iterdir()) if d.exists() else []


def cat_missing(rt: Runtime, name: str) -> bool:
    with rt.store.sessions() as s:
        try:
            cat.find_dataset(s, name)
        except NotFound:
            return True
    return False


def sealed_ids(rt: Runtime) -> list[str]:
    return sorted(p.name for p in (rt.settings.data_dir / "datasets").iterdir())


# --- the import through a job --------------------------------------------------------------

def test_an_upload_is_queued_and_its_page_follows_the_job_to_the_dataset(client, rt):
    signed_in(client, "operator")
    r = _import(client, _gbk_csv(), privacy_unit="身份证号")
    path = job_path(r)
    files = spooled(rt)
    assert len(files) == 1 and stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600  # the upload, private
    assert cat_missing(rt, "uploaded_people")  # nothing is imported within the request

    page = client.get(r.headers["location"])
    text = page_text(page)
    assert page.status_code == 200 and "导入数据集" in text and "排队中" in text
    assert "文件已上传，正在后台导入" in text and "关闭本页不会中断导入" in text
    assert "uploaded_people" in text and "人员名单.csv" in text and "user:operator" in text
    assert re.findall(r'<script src="([^"]+)"', page.text) == ["/static/job-status.js"]  # a local script, no inline
    assert "<script>" not in page.text and "style=" not in page.text
    assert 'data-status-url="' + path + '/status"' in page.text and "<progress" in page.text
    assert client.get("/static/job-status.js").status_code == 200
    status = client.get(path + "/status").json()
    assert status["status"] == "queued" and status["done"] is False and status["percent"] == 0
    (queued,) = events(rt, action="system.job.enqueue")
    assert queued["actor"] == "user:operator" and queued["zone"] == "bj_comprehensive"
    assert queued["target_id"] == path.rsplit("/", 1)[1]
    assert queued["details"] == {"kind": "catalog.import", "dataset": "uploaded_people", "source": "人员名单.csv"}

    assert drain(rt) == 1
    status = client.get(path + "/status").json()
    assert status == {**status, "status": "succeeded", "done": True, "percent": 100, "status_text": "已完成"}
    page = client.get(path)
    text = page_text(page)
    assert "已完成" in text and "导入完成" in text and "<script" not in page.text  # nothing left to poll
    link = re.search(r'<a href="([^"]+)" id="job-dataset-link">', page.text).group(1)
    assert link == "/catalog/uploaded_people?ok=imported"
    text = page_text(client.get(link))
    assert "上传的人员名单" in text and "数据集已导入并加密保存" in text
    assert "GB18030（兼容 GBK）" in text and "人员名单.csv" in text
    assert "居民身份证号码" in text and "尚未确认" in text and "建议，须人工确认" in text
    for action in ("catalog.dataset.import", "catalog.dataset.scan"):  # audited as the person who uploaded
        assert [e["target_id"] for e in events(rt, action=action, actor="user:operator")] == ["uploaded_people"]
    assert spooled(rt) == []

    client.get("/lang/en")
    text = page_text(client.get(path))
    assert "Dataset import" in text and "Done" in text and "Open dataset uploaded_people" in text


def test_the_servers_own_worker_runs_the_import(rt):
    with TestClient(create_app(rt, maintain_log=False)) as c:  # PDZONE_JOB_WORKERS=1 by default
        signed_in(c, "operator")
        path = job_path(_import(c, _gbk_csv(), name="by_the_server"))
        deadline = time.monotonic() + 60
        while not (status := c.get(path + "/status").json())["done"]:
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        assert status["status"] == "succeeded", page_text(c.get(path))
        assert 'href="/catalog/by_the_server?ok=imported"' in c.get(path).text
    assert not cat_missing(rt, "by_the_server") and spooled(rt) == []


def test_a_bad_file_fails_its_job_naming_the_row_and_nothing_is_left(client, rt):
    before = sealed_ids(rt)
    signed_in(client, "operator")
    ragged = job_path(_import(client, "姓名,金额\n张三,1\n李四,2,3\n".encode("gbk"), name="bad_rows"))
    # a file whose encoding cannot be told is refused when it is uploaded (its header is read then), unqueued
    r = _import(client, b"\xff\xfe\xfa,a\n1,2\n", name="bad_bytes")
    assert r.status_code == 422 and "无法识别文件编码" in page_text(r) and "字节处" in page_text(r)
    assert drain(rt) == 1
    r = client.get(ragged)
    text = page_text(r)
    assert r.status_code == 200 and "未完成" in text and "导入未完成" in text
    assert "第 3 行" in text and "位置：第 3 行" in text and "bad_import_file" in text
    assert "未留下任何内容" in text and 'href="/catalog/import"' in r.text and "job-dataset-link" not in r.text
    assert client.get(ragged + "/status").json()["status"] == "failed"
    client.get("/lang/en")
    text = page_text(client.get(ragged))
    assert "Failed" in text and "Nothing was imported" in text and "line 3" in text
    assert cat_missing(rt, "bad_rows") and cat_missing(rt, "bad_bytes")
    assert sealed_ids(rt) == before and spooled(rt) == []
    assert events(rt, action="catalog.dataset.import", actor="user:operator") == []


def test_what_the_form_can_tell_is_shown_beside_it_and_nothing_is_queued(client, rt):
    signed_in(client, "operator")
    r = _import(client, _gbk_csv(), name="social_insurance")
    assert r.status_code == 409 and "数据集名已被使用" in page_text(r)
    assert 'id="err-name"' in r.text and 'aria-describedby="err-name"' in r.text
    assert 'value="social_insurance"' in r.text  # the form keeps what was typed
    r = _import(client, _gbk_csv(), name="Bad Name")
    assert r.status_code == 422 and 'id="err-name"' in r.text
    r = _import(client, _gbk_csv(), filename="people.txt.exe", name="wrong_type")
    assert r.status_code == 422 and "不支持的文件类型" in page_text(r) and 'id="err-file"' in r.text
    r = _import(client, _gbk_csv(), name="no_basis", level="3")
    assert r.status_code == 422 and "须写明定级依据" in page_text(r) and 'id="err-basis"' in r.text
    r = _import(client, _gbk_csv(), name="wrong_provider", provider="北京金融大数据有限公司")  # an operator
    assert r.status_code == 422 and "数据须由数据提供部门提供" in page_text(r) and 'id="err-provider"' in r.text
    csrf = csrf_of(client.get("/catalog/import").text)
    r = client.post("/catalog/import", data={"csrf": csrf, "zone": "bj_comprehensive", "name": "no_file",
                                             "provider": "北京市市场监督管理局"})
    assert r.status_code == 422 and "请选择要上传的文件" in page_text(r)
    assert events(rt, action="system.job.enqueue") == [] and spooled(rt) == []


def test_only_filed_operator_staff_may_import(client, rt):
    signed_in(client, "provider")
    assert client.get("/catalog/import").status_code == 403
    with other_client(rt) as analyst:
        signed_in(analyst, "analyst")
        csrf = csrf_of(analyst.get("/").text)
        r = analyst.post("/catalog/import", data={"csrf": csrf, "zone": "bj_comprehensive", "name": "x",
                                                  "provider": "北京市市场监督管理局"},
                         files={"file": ("a.csv", _gbk_csv(), "text/csv")})
        assert r.status_code == 403
    with other_client(rt) as operator:
        signed_in(operator, "operator")
        r = _import(operator, _gbk_csv(), zone="bj_transport", name="other_zone")  # not their zone
        assert r.status_code == 403 and "没有执行此操作的权限" in page_text(r) and 'id="err-zone"' in r.text
        with rt.store.transaction() as s:
            ida.do_revoke_filing(s, ida.find_user(s, "operator"), "bj_comprehensive", reason="离岗", actor=os_actor())
        page = operator.get("/catalog/import")
        assert "您尚未在任何专区备案" in page_text(page) and 'id="import-form"' not in page.text
        r = operator.post("/catalog/import", data={"csrf": csrf_of(page.text), "zone": "bj_comprehensive",
                                                   "name": "unfiled", "provider": "北京市市场监督管理局"},
                          files={"file": ("a.csv", _gbk_csv(), "text/csv")})
        assert r.status_code == 403 and "尚未在该专区备案" in page_text(r)
    assert events(rt, action="system.job.enqueue") == [] and spooled(rt) == []
    refused = events(rt, outcome="denied", actor="user:operator")
    assert {e["details"].get("reason") for e in refused} >= {"forbidden", "not_filed"}


# --- who sees a job ------------------------------------------------------------------------

def test_a_job_is_seen_by_its_creator_and_by_those_who_may_import_in_its_zone(client, rt):
    with rt.store.transaction() as s:
        org = s.get(Organization, ida.find_user(s, "operator").org_id)
        colleague, _ = f.user(s, rt.vault, org, "operator2", role="operator_staff", zone_code="bj_comprehensive")
        ida.do_file(s, colleague, "bj_comprehensive", reason="实名核验通过", actor=os_actor())
    signed_in(client, "operator")
    path = job_path(_import(client, _gbk_csv(), name="seen_by_few"))
    assert client.get(path).status_code == 200

    def sees(username: str) -> bool:
        with other_client(rt) as c:
            if username == "operator2":
                assert login(c, username, password=f.PASSWORD).status_code == 303
            else:
                signed_in(c, username)
            page, status = c.get(path), c.get(path + "/status")
            assert page.status_code == status.status_code
            if page.status_code == 404:
                assert "找不到后台任务" in page_text(page) and "job_not_found" in page.text
                assert "seen_by_few" not in page.text
            return page.status_code == 200

    assert sees("operator2")  # filed operator staff of the job's zone
    for outsider in ("transport_operator", "analyst", "provider", "secadmin", "supervisor"):
        assert not sees(outsider), outsider
    with rt.store.transaction() as s:
        for name in ("operator", "operator2"):
            ida.do_revoke_filing(s, ida.find_user(s, name), "bj_comprehensive", reason="离岗", actor=os_actor())
    assert client.get(path).status_code == 200  # the creator still sees what they asked for
    assert not sees("operator2")
    assert client.get("/console/jobs/999999").status_code == 404
    client.cookies.clear()
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
