"""The console's data catalog (数据目录): search and facets, the dataset page, the masked preview through the
egress gate, level, column and masking-policy decisions, pending decisions; the import wizard's helpers (the import
itself is tested in test_console_jobs.py).

Each test gets its own copy of a demo database (with its four datasets and their sealed files) seeded once per
session, as in test_console.py.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pdzone.audit.events import os_actor
from pdzone.catalog import actions as cat
from pdzone.web.app import create_app
from pdzone.web.runtime import Runtime
from tests.web.test_console import (
    copy_of,
    csrf_of,
    events,
    make_id_number,
    other_client,
    page_text,
    signed_in,
)


@pytest.fixture
def rt(seeded_dir: Path, tmp_path: Path):
    runtime = copy_of(seeded_dir, tmp_path)
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def client(rt: Runtime):
    with TestClient(create_app(rt, maintain_log=False)) as c:
        yield c


def dataset_names(page: str) -> list[str]:
    return re.findall(r'<li class="mono">([a-z0-9_]+)</li>', page)


def facet(page: str, key: str) -> dict[str, int]:
    """A facet's options as {label: count}."""
    block = re.search(rf'data-facet="{key}">(.*?)</ul>', page, re.S)
    assert block, f"no facet {key}"
    items = re.findall(r'<a [^>]*>\s*(?:<span[^>]*></span>)?(.*?)\s*</a>\s*<span class="facet-count">(\d+)</span>',
                       block.group(1), re.S)
    return {html.unescape(label).replace(" ×", "").strip(): int(n) for label, n in items}


def real_values(rt: Runtime, name: str, column: str) -> set:
    with rt.store.sessions() as s:
        table = cat.load_table(s, rt.keystore, rt.suite, rt.datasets, cat.find_dataset(s, name))
    return set(table.column(column).to_pylist())


def level_of(rt: Runtime, name: str) -> int | None:
    with rt.store.sessions() as s:
        return cat.find_dataset(s, name).level


# --- the catalog ---------------------------------------------------------------------------

def test_catalog_searches_and_counts_facets_within_the_callers_zones(client, rt):
    signed_in(client, "secadmin")
    r = client.get("/catalog")
    assert r.status_code == 200 and "数据目录" in r.text
    assert sorted(dataset_names(r.text)) == ["enterprise_registry", "health_visits", "social_insurance",
                                             "transit_trips"]
    assert "社会保险缴费记录" in r.text and "企业登记信息" in r.text  # Chinese titles
    assert facet(r.text, "zone") == {"北京市公共数据综合基础专区": 3, "北京市交通领域公共数据专区": 1}
    assert facet(r.text, "level") == {"1 级": 1, "2 级": 1, "3 级": 1, "4 级": 1}
    assert facet(r.text, "provider") == {"北京市市场监督管理局": 3, "北京市公安局公安交通管理局": 1}
    assert facet(r.text, "sector") == {"未填写领域": 4}
    assert 'class="badge lvl lvl-3"' in r.text and 'class="badge lvl lvl-4"' in r.text

    r = client.get("/catalog", params={"zone": "bj_comprehensive"})
    assert sorted(dataset_names(r.text)) == ["enterprise_registry", "health_visits", "social_insurance"]
    assert facet(r.text, "level") == {"1 级": 1, "3 级": 1, "4 级": 1}  # counted within the chosen zone
    assert facet(r.text, "zone")["北京市交通领域公共数据专区"] == 1  # the other zone stays one click away
    r = client.get("/catalog", params={"zone": "bj_comprehensive", "level": "3"})
    assert dataset_names(r.text) == ["social_insurance"]
    r = client.get("/catalog", params={"q": "企业"})
    assert dataset_names(r.text) == ["enterprise_registry"]
    assert facet(r.text, "zone") == {"北京市公共数据综合基础专区": 1}
    r = client.get("/catalog", params={"q": "没有这样的数据"})
    assert dataset_names(r.text) == [] and "没有符合条件的数据集" in r.text

    with other_client(rt) as analyst:
        signed_in(analyst, "transport_analyst")
        r = analyst.get("/catalog")
        assert dataset_names(r.text) == ["transit_trips"]
        assert "北京市公共数据综合基础专区" not in r.text
        assert analyst.get("/catalog/social_insurance").status_code == 404  # another zone's dataset


def test_r28_flagged_datasets_are_marked_in_the_catalog(client, rt):
    with rt.store.transaction() as s:
        cat.do_flag_r28(s, cat.find_dataset(s, "health_visits"), reason="law", note="法律禁止开放",
                        actor=os_actor())
    signed_in(client, "operator")
    r = client.get("/catalog")
    item = re.search(r'<article class="card dataset-item r28">(.*?)</article>', r.text, re.S)
    assert item and "health_visits" in item.group(1) and "不得开放运营" in item.group(1)
    assert r.text.count("不得开放运营") == 1
    page = page_text(client.get("/catalog/health_visits"))
    assert "已依第二十八条标记为不得开放运营：法律法规规定不得开放运营" in page and "法律禁止开放" in page
    assert 'id="preview-button"' not in page  # no preview offered for R-28 data


def test_the_catalog_is_in_the_navigation_and_switches_to_english(client):
    signed_in(client, "analyst")
    home = client.get("/")
    assert '<a href="/catalog">数据目录</a>' in home.text
    client.get("/lang/en")
    r = client.get("/catalog")
    assert '<html lang="en">' in r.text and "Data catalog" in r.text and "Level 3" in r.text
    assert 'aria-current="page">Catalog</a>' in r.text
    r = client.get("/catalog/social_insurance")
    # a partner sees only coarse metadata of level-3 data: no per-column detection results
    assert "Resident ID number" not in r.text and "A suggestion that a person must confirm" not in r.text
    assert "GB18030 (GBK-compatible)" in r.text


def test_the_catalog_needs_a_session_and_catalog_rights(client):
    r = client.get("/catalog", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fcatalog")
    signed_in(client, "expert")  # an expert reviewer reads no catalog
    assert client.get("/catalog").status_code == 403
    assert 'href="/catalog"' not in client.get("/").text


# --- the dataset page ----------------------------------------------------------------------

def test_dataset_page_shows_schema_pii_level_policy_and_the_suggestion_note(client):
    signed_in(client, "operator")
    r = client.get("/catalog/social_insurance")
    assert r.status_code == 200
    text = page_text(r)
    assert "社会保险缴费记录" in text and "北京市市场监督管理局" in text and "北京市公共数据综合基础专区" in text
    assert "GB18030（兼容 GBK）" in text and "国密 SM4-GCM" in text and "v1" in text
    schema = re.search(r'<table class="schema">(.*?)</table>', r.text, re.S).group(1)
    row = re.search(r"<tr class=\"has-pii\">\s*<td><strong>身份证号</strong>(.*?)</tr>", schema, re.S).group(1)
    assert "居民身份证号码" in row and "100.0%" in row and "假名化" in row
    assert "姓名</strong>" in schema and ">姓名</span> <code" in schema  # 姓名 detected as a person's name
    assert re.search(r"<strong>缴费基数</strong>.*?未识别.*?删除", schema, re.S)  # level 3: masked too
    # confirmed level with basis and who set it; the suggestion, said to be one
    assert "含身份证号等个人敏感信息（三级）" in text and "os:" in text
    assert "建议，须人工确认" in text and "含敏感个人信息标识" in text
    # lineage: a chart fed by a JSON block, drawn by local scripts only
    data = re.search(r'<script type="application/json" id="lineage-data">(.*?)</script>', r.text, re.S).group(1)
    assert '"id": "social_insurance"' in data and '"role": "self"' in data
    scripts = re.findall(r'<script src="([^"]+)"', r.text)
    assert scripts == ["/static/vendor/echarts/echarts.min.js", "/static/catalog-lineage.js"]
    assert "尚无登记的来源或产品" in text
    for src in scripts:
        assert client.get(src).status_code == 200
    assert "Apache License" in client.get("/static/vendor/echarts/LICENSE").text
    assert "style=" not in r.text and "<style" not in r.text
    # the operator sets column roles and scans; a level, bounds and masking they only propose; R-28 is not theirs
    assert 'id="role-form"' in r.text and 'id="scan-form"' in r.text and 'id="r28-form"' not in r.text
    level_form = re.search(r'<form [^>]*id="level-form">(.*?)</form>', r.text, re.S).group(1)
    assert ">提议</button>" in level_form and "确认级别</button>" not in level_form
    assert 'id="propose-hint"' in r.text


def test_dataset_titles_cannot_break_out_of_the_lineage_json(client, rt):
    with rt.store.transaction() as s:
        cat.find_dataset(s, "transit_trips").title_zh = "</script><script>alert(1)</script>"
    signed_in(client, "transport_operator")
    r = client.get("/catalog/transit_trips")
    assert "<script>alert(1)" not in r.text
    assert "\\u003c/script\\u003e" in r.text


# --- masked preview ------------------------------------------------------------------------

def test_provider_preview_is_masked_and_released_through_the_gate(client, rt):
    signed_in(client, "provider")
    page = client.get("/catalog/social_insurance")
    r = client.post("/catalog/social_insurance/preview", data={"csrf": csrf_of(page.text), "limit": "20"})
    assert r.status_code == 200, r.text
    table = re.search(r'<table class="preview-table">(.*?)</table>', r.text, re.S).group(1)
    body = table.split("<tbody>", 1)[1]
    cells = [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", body)]
    assert len(re.findall(r"<tr>", body)) == 20
    ids = cells[0::6]
    assert all(re.fullmatch(r"[0-9a-f]{16,}", v) for v in ids), ids[:3]  # per-recipient pseudonyms
    real_ids = real_values(rt, "social_insurance", "身份证号")
    real_names = real_values(rt, "social_insurance", "姓名")
    shown = page_text(r)
    assert not [v for v in real_ids if v in shown]  # never a full ID number of level-3 data
    assert not set(cells) & real_names
    assert "假名化" in table and "删除" in table  # the policy each column got
    released = events(rt, action="egress.preview.release")
    assert len(released) == 1
    ev = released[0]
    assert ev["actor"] == "user:provider" and ev["target_id"] == "social_insurance" and ev["details"]["rows"] == 20
    receipt = re.search(r'<div class="receipt" id="receipt">(.*?)</div>', r.text, re.S).group(1)
    assert f'<dd class="mono">{ev["id"]}</dd>' in receipt and ev["details"]["digest"] in receipt


def test_analyst_cannot_preview(client, rt):
    signed_in(client, "analyst")
    page = client.get("/catalog/social_insurance")
    assert page.status_code == 200 and 'id="preview-button"' not in page.text
    assert "仅数据提供部门（本单位数据）和已备案的数据加工处理人员可以预览" in page_text(page)
    r = client.post("/catalog/social_insurance/preview", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 403
    assert "预览被拒绝" in page_text(r) and "没有执行此操作的权限" in page_text(r)
    assert 'class="preview-table"' not in r.text
    assert events(rt, action="egress.preview.release") == []
    denied = events(rt, outcome="denied", actor="user:analyst")
    assert [e["action"] for e in denied] == ["POST /catalog/social_insurance/preview"]


def test_preview_of_another_departments_data_and_of_r28_data_is_refused_with_the_reason(client, rt):
    signed_in(client, "operator")
    csrf = csrf_of(client.get("/catalog/social_insurance").text)
    r = client.post("/catalog/social_insurance/preview", data={"csrf": csrf})
    assert r.status_code == 200 and 'class="preview-table"' in r.text  # filed operator staff may
    with rt.store.transaction() as s:
        cat.do_flag_r28(s, cat.find_dataset(s, "social_insurance"), reason="agreement", actor=os_actor())
    r = client.post("/catalog/social_insurance/preview", data={"csrf": csrf})
    assert r.status_code == 403
    assert "不得开放运营" in page_text(r) and "r28_prohibited" in r.text
    assert len(events(rt, action="egress.preview.release")) == 1
    # a preview POST without the form's token is refused before anything is released
    assert client.post("/catalog/enterprise_registry/preview", data={}).status_code == 403
    assert len(events(rt, action="egress.preview.release")) == 1


# --- decisions -----------------------------------------------------------------------------

def test_provider_confirms_a_level_on_own_data_and_it_is_audited(client, rt):
    signed_in(client, "provider")
    page = client.get("/catalog/health_visits")
    assert 'id="level-form"' in page.text
    csrf = csrf_of(page.text)
    r = client.post("/catalog/health_visits/level", data={"csrf": csrf, "level": "3", "basis": ""})
    assert r.status_code == 422 and "须写明定级依据" in page_text(r) and level_of(rt, "health_visits") == 4
    r = client.post("/catalog/health_visits/level", data={"csrf": csrf, "level": "3", "basis": "复核：与建议一致"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/catalog/health_visits?ok=level_set"
    assert level_of(rt, "health_visits") == 3
    text = page_text(client.get(r.headers["location"]))
    assert "级别已确认" in text and "复核：与建议一致" in text and "user:provider" in text
    ev = events(rt, action="catalog.dataset.set_level", actor="user:provider")
    assert len(ev) == 1 and ev[0]["details"]["level"] == 3 and ev[0]["details"]["before"] == 4

    # another department's dataset (and zone) is not theirs to decide
    r = client.post("/catalog/transit_trips/level", data={"csrf": csrf, "level": "1", "basis": "x"})
    assert r.status_code == 404 and level_of(rt, "transit_trips") == 2


def test_operator_only_proposes_a_lower_level(client, rt):
    signed_in(client, "operator")
    csrf = csrf_of(client.get("/catalog/health_visits").text)
    r = client.post("/catalog/health_visits/level", data={"csrf": csrf, "level": "1", "basis": "想降级"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/catalog/health_visits?ok=proposed"
    assert level_of(rt, "health_visits") == 4  # not in force
    assert events(rt, action="catalog.dataset.set_level", actor="user:operator") == []
    [ev] = events(rt, action="catalog.proposal.create", actor="user:operator")
    assert ev["details"]["field"] == "level" and ev["details"]["value"] == 1
    page = client.get(r.headers["location"])
    text = page_text(page)
    assert "已提交提议" in text and "等待数据提供部门或安全管理员决定" in text
    assert 'id="proposed-level"' in page.text and "待决定的提议级别" in text
    assert 'class="form stacked proposal-form"' not in page.text  # staff cannot decide it


def test_security_admin_flags_a_dataset_under_r28_through_the_form(client, rt):
    signed_in(client, "secadmin")
    csrf = csrf_of(client.get("/catalog/transit_trips").text)
    r = client.post("/catalog/transit_trips/r28", data={"csrf": csrf, "reason": "whim"})
    assert r.status_code == 422 and "未知的第二十八条事由" in page_text(r) and 'id="error-r28"' in r.text
    r = client.post("/catalog/transit_trips/r28", data={"csrf": csrf, "reason": "agreement", "note": "协议第 5 条"},
                    follow_redirects=False)
    assert r.status_code == 303
    text = page_text(client.get(r.headers["location"]))
    assert "已标记为不得开放运营" in text and "获取协议约定不得开放运营" in text and "协议第 5 条" in text
    assert events(rt, action="catalog.dataset.flag_r28")[0]["actor"] == "user:secadmin"


def test_column_roles_are_metadata_bounds_are_decisions(client, rt):
    signed_in(client, "operator")
    csrf = csrf_of(client.get("/catalog/social_insurance").text)
    r = client.post("/catalog/social_insurance/columns", data={"csrf": csrf, "column": "缴费基数", "role": "measure"},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/catalog/social_insurance/columns", data={"csrf": csrf, "column": "缴费基数", "bounds_lo": "0",
                                                               "bounds_hi": "40000", "basis": "政策上限"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?ok=proposed")  # wider bounds: a proposal
    with other_client(rt) as provider:
        signed_in(provider, "provider")
        csrf = csrf_of(provider.get("/catalog/social_insurance").text)
        r = provider.post("/catalog/social_insurance/columns", data={
            "csrf": csrf, "column": "缴费基数", "bounds_lo": "40000", "bounds_hi": "0", "basis": "政策"})
        assert r.status_code == 422 and "下界小于上界" in page_text(r)
        r = provider.post("/catalog/social_insurance/columns", data={
            "csrf": csrf, "column": "参保区", "public_values": "东城区\n西城区\n朝阳区\n", "basis": "GB/T 2260"})
        assert r.status_code == 200 and "列的决定已保存" in page_text(r)
        schema = re.search(r'<table class="schema">(.*?)</table>', r.text, re.S).group(1)
        assert "度量" in schema and "东城区、西城区、朝阳区" in schema
    details = [e["details"] for e in events(rt, action="catalog.dataset.column")
               if e["actor"] in ("user:operator", "user:provider")]  # not the demo seed's own decisions
    assert len(details) == 2
    assert {"column": "参保区", "public_values": 3} in details and {"column": "缴费基数", "role": "measure"} in details


def _schema_row(page: str, column: str) -> str:
    schema = re.search(r'<table class="schema">(.*?)</table>', page, re.S).group(1)
    return re.search(rf"<strong>{column}</strong>(.*?)</tr>", schema, re.S).group(1)


def _policy_of(rt: Runtime, name: str, column: str):
    from pdzone.egress.gate import policies_for

    with rt.store.sessions() as s:
        return policies_for(s, cat.find_dataset(s, name))[1][column]


def test_provider_sets_a_columns_masking_policy_through_the_form(client, rt):
    signed_in(client, "provider")
    page = client.get("/catalog/social_insurance")
    assert 'id="mask-form"' in page.text and "列的脱敏策略" in page_text(page)
    assert '<option value="id_generalize">身份证号泛化 (id_generalize)</option>' in page.text
    r = client.post("/catalog/social_insurance/mask", data={
        "csrf": csrf_of(page.text), "column": "姓名", "op": "partial", "keep_first": "1", "keep_last": "",
        "cap": "90", "keep_sex": "1", "granularity": "district", "region_digits": "6", "basis": "仅保留姓氏"},
        follow_redirects=False)  # cap, keep_sex... belong to other operators: the form shows them all, they are ignored
    assert r.status_code == 303 and r.headers["location"] == "/catalog/social_insurance?ok=mask_set"
    page = client.get(r.headers["location"]).text
    assert "脱敏策略已保存" in html.unescape(page)
    row = _schema_row(page, "姓名")
    assert "部分屏蔽" in row and "keep_first=1" in row
    decisions = re.search(r'<section class="card" id="decisions">(.*?)</section>', page, re.S).group(1)
    assert "脱敏策略" in decisions and "keep_first=1" in decisions and "仅保留姓氏" in decisions
    policy = _policy_of(rt, "social_insurance", "姓名")
    assert (policy.op, policy.keep_first) == ("partial", 1)  # what the egress gate applies from now on
    ev = [e for e in events(rt, action="catalog.dataset.column", actor="user:provider")
          if "mask_policy" in e["details"]]
    assert [e["details"] for e in ev] == [{"column": "姓名", "mask_policy": {"op": "partial", "keep_first": 1,
                                                                            "keep_last": 0, "mask_char": "*"}}]


def test_a_refused_masking_policy_is_explained_beside_the_form(client, rt):
    signed_in(client, "secadmin")
    csrf = csrf_of(client.get("/catalog/social_insurance").text)

    def mask(**form):
        return client.post("/catalog/social_insurance/mask", data={"csrf": csrf, **form}, follow_redirects=False)

    before = _policy_of(rt, "social_insurance", "身份证号")
    r = mask(column="身份证号", op="keep")
    assert r.status_code == 422 and 'id="error-mask"' in r.text
    assert "识别为个人信息（resident_id）的列不能使用会原样输出部分值的操作 keep" in page_text(r)
    assert re.search(r'<option value="keep" selected>', r.text)  # the form keeps what was chosen
    r = mask(column="缴费基数", op="keep")
    assert r.status_code == 422 and "2 级及以上数据的列须脱敏，除非明确放行" in page_text(r)
    r = mask(column="缴费基数", op="top_code")
    assert r.status_code == 422 and "顶部编码须给出上限 cap" in page_text(r)
    r = mask(column="缴费基数", op="top_code", cap="many")
    assert r.status_code == 422 and "参数 cap 须为数字" in page_text(r)
    r = mask(column="缴费基数", op="shuffle")
    assert r.status_code == 422 and "脱敏策略无效" in page_text(r)
    r = mask(column="没有这列", op="redact")
    assert r.status_code == 404 and "没有列 没有这列" in page_text(r) and 'id="error-mask"' in r.text
    client.get("/lang/en")
    r = mask(column="身份证号", op="suppress")
    assert r.status_code == 422 and "a resident_id column cannot use suppress" in page_text(r)
    assert _policy_of(rt, "social_insurance", "身份证号") == before
    assert not [e for e in events(rt, action="catalog.dataset.column", actor="user:secadmin")]
    r = mask(column="缴费基数", op="top_code", cap="30000", basis="政策上限")  # a valid decision goes through
    assert r.status_code == 303
    assert _policy_of(rt, "social_insurance", "缴费基数").cap == 30000


def test_operator_staff_propose_a_weaker_masking_policy_and_the_provider_decides(client, rt):
    signed_in(client, "operator")
    page = client.get("/catalog/social_insurance")
    mask_form = re.search(r'<form [^>]*id="mask-form">(.*?)</form>', page.text, re.S).group(1)
    assert ">提议</button>" in mask_form
    before = _policy_of(rt, "social_insurance", "姓名")
    assert before.op == "redact"
    r = client.post("/catalog/social_insurance/mask", data={"csrf": csrf_of(page.text), "column": "姓名",
                                                            "op": "pseudonym", "basis": "便于关联"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?ok=proposed")
    assert _policy_of(rt, "social_insurance", "姓名") == before  # not in force
    # a form without its CSRF token changes nothing
    r = client.post("/catalog/social_insurance/mask", data={"column": "参保区", "op": "keep", "released": "1"})
    assert r.status_code == 403
    with other_client(rt) as provider:
        signed_in(provider, "provider")
        pending = provider.get("/catalog/pending")
        table = re.search(r'<section class="card" id="proposals">(.*?)</section>', pending.text, re.S).group(1)
        assert "姓名" in table and "假名化" in table and "便于关联" in table and "user:operator" in table
        pid = re.search(r'action="/catalog/social_insurance/proposals/(\d+)"', table).group(1)
        url = f"/catalog/social_insurance/proposals/{pid}"
        r = provider.post(url, data={"csrf": csrf_of(pending.text), "decision": "accept", "basis": "",
                                     "back": "pending"})
        assert r.status_code == 422 and 'id="error-proposal-' in r.text
        assert _policy_of(rt, "social_insurance", "姓名") == before
        r = provider.post(url, data={"csrf": csrf_of(pending.text), "decision": "accept", "basis": "评估后同意",
                                     "back": "pending"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/catalog/pending?ok=proposal_accepted"
        assert "已采纳提议" in page_text(provider.get(r.headers["location"]))
        assert _policy_of(rt, "social_insurance", "姓名").op == "pseudonym"
        [ev] = events(rt, action="catalog.proposal.accept", actor="user:provider")
        assert ev["details"]["basis"] == "评估后同意"
    with other_client(rt) as analyst:
        signed_in(analyst, "analyst")
        assert 'id="mask-form"' not in analyst.get("/catalog/social_insurance").text


def test_pending_decisions_on_the_providers_home_and_pending_page(client, rt):
    signed_in(client, "provider")
    home = page_text(client.get("/"))
    assert "待决定事项" in home
    assert "企业登记信息" in home and "建议 3 级，与已确认的 1 级不一致" in home
    assert "门诊就诊记录" in home and "社会保险缴费记录" not in home  # 3 confirmed, 3 suggested
    pending = page_text(client.get("/catalog/pending"))
    assert "enterprise_registry" in pending and "health_visits" in pending and "social_insurance" not in pending
    assert "transit_trips" not in pending  # another department's data
    csrf = csrf_of(client.get("/catalog/health_visits").text)
    client.post("/catalog/health_visits/level", data={"csrf": csrf, "level": "3", "basis": "采纳建议"})
    assert "门诊就诊记录" not in page_text(client.get("/catalog/pending"))
    with other_client(rt) as operator:
        signed_in(operator, "operator")
        assert "待决定事项" not in page_text(operator.get("/"))
        assert operator.get("/catalog/pending").status_code == 403


# --- the import wizard (the import itself runs as a background job: see test_console_jobs.py) -------------

def _gbk_csv(rows: int = 12) -> bytes:
    lines = ["姓名,身份证号,缴费金额,所属区"]
    names = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴婷", "徐涛", "孙丽"]
    for i in range(rows):
        pid = make_id_number(f"1985{i % 12 + 1:02d}{i % 27 + 1:02d}", f"{i:03d}")
        lines.append(f"{names[i % len(names)]},{pid},{100 + i},朝阳区")
    return ("\n".join(lines) + "\n").encode("gbk")


def _import(c: TestClient, data: bytes, filename: str = "人员名单.csv", **fields):
    csrf = csrf_of(c.get("/catalog/import").text)
    form = {"csrf": csrf, "zone": "bj_comprehensive", "name": "uploaded_people", "provider": "北京市市场监督管理局",
            "title": "上传的人员名单", **fields}
    return c.post("/catalog/import", data=form, files={"file": (filename, data, "text/csv")}, follow_redirects=False)


def test_partners_see_no_suggested_level_of_level_3_data_anywhere(client, rt):
    """A suggested level that differs from the confirmed one is a detection result: partners get none for
    level >= 3 data (API list, detail and DCAT, console catalog and dataset page); staff still see it."""
    from pdzone.identity import auth
    from pdzone.web import demo

    def api_login(rt, username):
        with rt.store.transaction() as s:
            res = auth.check_login(s, rt.vault, rt.settings, username=username, password=demo.DEMO_PASSWORD, otp=None)
        return None, res.token
    with rt.store.transaction() as s:
        ds = cat.find_dataset(s, "social_insurance")
        assert ds.level == 3
        ds.suggested_level = 2   # as if a rescan found less than the confirmed level
    _, token = api_login(rt, "analyst")
    h = {"Authorization": f"Bearer {token}"}
    doc = client.get("/api/v1/datasets/social_insurance", headers=h).json()
    assert doc["suggested_level"] is None and doc["suggestion_reasons"] == [] and doc["coarse"]
    listed = {d["name"]: d for d in client.get("/api/v1/datasets", headers=h).json()}
    assert listed["social_insurance"]["suggested_level"] is None
    dcat = client.get("/api/v1/datasets/social_insurance/dcat", headers=h).json()
    assert not any("suggest" in k.lower() for k in dcat)
    signed_in(client, "analyst")
    page = client.get("/catalog/social_insurance").text
    assert "建议级别与已确认级别不一致" not in page and "建议理由" not in page and "未识别出个人信息" not in page
    assert 'class="level-box suggestion"' not in page
    assert "建议 2 级" not in client.get("/catalog").text
    _, op = api_login(rt, "operator")
    assert client.get("/api/v1/datasets/social_insurance",
                      headers={"Authorization": f"Bearer {op}"}).json()["suggested_level"] == 2
    with other_client(rt) as staff:
        signed_in(staff, "operator")
        assert "建议级别与已确认级别不一致" in staff.get("/catalog/social_insurance").text
        assert "建议 2 级" in staff.get("/catalog").text
