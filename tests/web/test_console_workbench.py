"""The clean-room workbench (分析工作台) of a partner analyst and the approvals page of the security admin.

From the demo: `analyst` (北京普惠征信服务有限公司) holds the scenario inclusive_credit with social_insurance (level 3,
DP), enterprise_registry (level 1) and health_visits (level 4, every query approved by `secadmin`). Each test gets
its own copy of a demo database seeded once per session, as in test_console.py.
"""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pdzone.audit.events import os_actor
from pdzone.catalog import actions as cat
from pdzone.egress import dp
from pdzone.egress import grants as gr
from pdzone.web import i18n
from pdzone.web.app import create_app
from pdzone.web.console.workbench import chart_of, example_sql
from pdzone.web.demo_data import DIAGNOSES, DISTRICTS
from pdzone.web.runtime import Runtime
from tests.web.test_console import TEMPLATES, copy_of, csrf_of, events, other_client, page_text, signed_in

BY_DISTRICT = 'SELECT "参保区", COUNT(*) AS n FROM social_insurance GROUP BY "参保区"'
BY_DIAGNOSIS = 'SELECT "诊断", COUNT(*) AS n FROM health_visits GROUP BY "诊断"'


@pytest.fixture
def rt(seeded_dir: Path, tmp_path: Path):
    runtime = copy_of(seeded_dir, tmp_path)
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def client(rt: Runtime):
    with TestClient(create_app(rt, maintain_log=False)) as c:
        yield c


@pytest.fixture
def analyst(client):
    signed_in(client, "analyst")
    return client


# --- helpers -------------------------------------------------------------------------------

def ask(c: TestClient, sql: str, action: str = "run", *, epsilon: str = "", scenario: str = "inclusive_credit",
        dataset: str = "", csrf: str | None = None):
    """Press a button of the workbench's form, as a browser would post it."""
    token = csrf if csrf is not None else csrf_of(c.get("/console/workbench", params={"scenario": scenario}).text)
    return c.post("/console/workbench", data={"csrf": token, "scenario": scenario, "sql": sql, "epsilon": epsilon,
                                              "action": action, "dataset": dataset})


def part(page: str, element_id: str) -> str:
    """The page from the element with this id to the end of its section (decoded)."""
    m = re.search(rf'id="{element_id}"(.*?)</section>', page, re.S)
    assert m, f"no #{element_id} on the page"
    return html.unescape(m.group(1))


def table_rows(page: str, table_id: str) -> list[list[str]]:
    m = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', page, re.S)
    assert m, f"no table #{table_id}"
    body = m.group(1).split("<tbody>", 1)[1]
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", tr,
                                                                                          re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def budget_line(page: str) -> str:
    return html.unescape(re.search(r'id="budget-grant"[^>]*>(.*?)</span>', page, re.S).group(1))


def dataset_budget(page: str, name: str) -> str:
    m = re.search(rf'data-dataset="{name}".*?class="small budget-dataset">(.*?)</span>', page, re.S)
    assert m, f"no budget line for {name}"
    return html.unescape(m.group(1))


def textarea(page: str) -> str:
    return html.unescape(re.search(r'<textarea id="sql"[^>]*>(.*?)</textarea>', page, re.S).group(1))


def grant_spent(rt: Runtime) -> Decimal:
    with rt.store.sessions() as s:
        return gr.from_nano(gr.grants_of(s)[0].epsilon_spent)


# --- the page -------------------------------------------------------------------------------

def test_analyst_finds_the_workbench_with_schema_budget_and_an_example_query(analyst):
    home = analyst.get("/")
    assert 'href="/console/workbench"' in home.text and "在授权范围内查询数据" in home.text
    r = analyst.get("/console/workbench")
    assert r.status_code == 200
    assert '<a href="/console/workbench" aria-current="page">分析工作台</a>' in r.text
    text = page_text(r)
    assert "普惠金融信用评估" in text and "inclusive_credit" in text
    # the granted schema: metadata only, Chinese column names shown quoted as they are written in SQL
    schema = part(r.text, "schema")
    for name in ("social_insurance", "enterprise_registry", "health_visits"):
        assert f'id="schema-{name}"' in r.text
    assert '"参保区"' in schema and '"缴费基数"' in schema and "[6,326, 35,283]" in schema
    assert "东城区、西城区" in schema and "隐私单元：身份证号（每人最多计入 12 行）" in schema
    assert "transit_trips" not in text  # another partner's grant
    assert budget_line(r.text) == "已用 ε 0 / 20，剩余 20"
    assert dataset_budget(r.text, "social_insurance") == "已用 ε 0 / 20，剩余 20"
    assert "每次查询默认 ε = 1，可在 [0.001, 2] 内指定。" in text
    # the editor starts with a query that runs on the level-3 dataset
    assert textarea(r.text) == ('SELECT "缴费月份", COUNT(*) AS n, AVG("缴费基数") AS mean\nFROM social_insurance\n'
                                'GROUP BY "缴费月份"')
    # the other scenario of the same partner is one choice away
    assert '<option value="enterprise_due_diligence">' in r.text
    other = analyst.get("/console/workbench", params={"scenario": "enterprise_due_diligence"})
    assert other.status_code == 200 and 'id="schema-enterprise_registry"' in other.text
    assert 'id="schema-social_insurance"' not in other.text


def test_run_shows_noisy_rows_chart_data_receipt_and_the_budget_falls(analyst, rt):
    r = ask(analyst, BY_DISTRICT)
    assert r.status_code == 200, r.text
    rows = table_rows(r.text, "result-table")
    assert [row[0] for row in rows] == DISTRICTS  # public group keys: every declared value, zeros included
    assert all(re.fullmatch(r"-?[\d,]+", row[1]) for row in rows)
    receipt = part(r.text, "receipt")
    assert "差分隐私（OpenDP 噪声）" in receipt
    assert re.search(r'id="receipt-spent">1<', r.text) and re.search(r'id="receipt-left">19<', r.text)
    # one measured quantity (the noisy count) at ε = 1, each person counting at most 12 rows: scale 12
    noise = table_rows(r.text, "receipt-noise")
    assert noise == [["n", "计数", "1", "12", f"± {12 * dp.Z95:.2f}"]]
    released = events(rt, action="egress.query.release")
    assert len(released) == 1 and released[0]["details"]["epsilon"] == "1"
    event_id = re.search(r'id="receipt-event">(\d+)', r.text).group(1)
    assert int(event_id) == released[0]["id"]
    # the chart's data: the first numeric column by the first text column
    data = json.loads(re.search(r'<script type="application/json" id="result-data">(.*?)</script>', r.text,
                                re.S).group(1))
    assert data["x"] == "参保区" and data["y"] == "n" and data["categories"] == DISTRICTS
    assert data["values"] == [float(row[1].replace(",", "")) for row in rows]
    assert '<script src="/static/workbench.js" defer></script>' in r.text
    assert analyst.get("/static/workbench.js").status_code == 200
    # the budget fell, for the grant and on the dataset; the answer is in the recent releases
    assert budget_line(r.text) == "已用 ε 1 / 20，剩余 19"
    assert dataset_budget(r.text, "social_insurance") == "已用 ε 1 / 20，剩余 19"
    assert dataset_budget(r.text, "health_visits") == "已用 ε 0 / 20，剩余 20"
    assert table_rows(r.text, "releases-table")[0][0] == event_id
    assert textarea(r.text) == BY_DISTRICT  # the SQL stays in the editor

    r = ask(analyst, 'SELECT "缴费月份", COUNT(*) AS n FROM social_insurance GROUP BY "缴费月份"', epsilon="0.5")
    assert r.status_code == 200 and re.search(r'id="receipt-spent">0.5<', r.text)
    assert budget_line(r.text) == "已用 ε 1.5 / 20，剩余 18.5"
    assert grant_spent(rt) == Decimal("1.5")


def test_asking_the_same_query_again_costs_nothing(analyst, rt):
    first = ask(analyst, BY_DISTRICT)
    again = ask(analyst, BY_DISTRICT)
    assert table_rows(again.text, "result-table") == table_rows(first.text, "result-table")
    assert re.search(r'id="receipt-spent">0 <span class="badge green">复用已答复结果，未扣预算', again.text)
    assert budget_line(again.text) == "已用 ε 1 / 20，剩余 19"


def test_dry_run_shows_the_split_and_charges_nothing(analyst, rt):
    sql = 'SELECT "参保区", COUNT(*) AS n, AVG("缴费基数") AS mean FROM social_insurance GROUP BY "参保区"'
    r = ask(analyst, sql, "dry_run", epsilon="0.6")
    assert r.status_code == 200
    dry = part(r.text, "dry-run")
    assert "试算结果（未读取数据，未扣预算）" in dry and "差分隐私" in dry
    assert re.search(r'id="dry-epsilon">0.6<', r.text) and re.search(r'id="dry-charge">0.6<', r.text)
    split = table_rows(r.text, "dry-split")
    # ε split equally over the noisy count, the mean's noisy sum and its noisy count
    assert [(row[0], row[1], row[2]) for row in split] == [("n", "计数", "0.2"), ("mean", "求和", "0.2"),
                                                            ("mean", "计数", "0.2")]
    assert split[0][3] == "60"  # a count: sensitivity 12 rows per person / ε 0.2
    assert split[1][3] == "2,116,980"  # a sum: 12 × max(|6326|, |35283|) / 0.2
    assert 'id="result"' not in r.text and 'id="receipt"' not in r.text
    assert budget_line(r.text) == "已用 ε 0 / 20，剩余 20"
    assert grant_spent(rt) == 0 and events(rt, action="egress.query.release") == []


@pytest.mark.parametrize(("sql", "status", "code", "message"), [
    ("SELECT * FROM social_insurance", 403, "select_star", "不允许 SELECT *"),
    ('SELECT "身份证号", COUNT(*) AS n FROM social_insurance GROUP BY "身份证号"', 403,
     "column_not_allowed_in_group", "不能按列 身份证号（identifier）分组"),
    ("SELECT COUNT(*) AS n FROM read_csv('/etc/passwd')", 403, "sql_not_allowed", "不允许使用 READ_CSV"),
    ('SELECT "进站", COUNT(*) AS n FROM transit_trips GROUP BY "进站"', 403, "dataset_not_granted",
     "数据集 transit_trips 不在本场景的授权范围内"),
    ("SELECT COUNT(* FROM social_insurance", 400, "sql_syntax", "SQL 语法错误"),
], ids=["select-star", "group-by-id", "read-file", "outside-grant", "syntax"])
def test_refusals_show_their_message_and_code_in_place(analyst, rt, sql, status, code, message):
    for action in ("run", "dry_run"):
        r = ask(analyst, sql, action)
        assert r.status_code == status
        assert "Traceback" not in r.text and "服务器内部错误" not in r.text
        box = part(r.text, "wb-error")
        assert message in box and f'<code id="wb-error-code">{code}</code>' in box and f"HTTP {status}" in box
        assert {403: "查询被拒绝", 400: "SQL 有误"}[status] in box
        assert textarea(r.text) == sql  # kept for fixing
        assert 'id="result"' not in r.text
    assert grant_spent(rt) == 0 and events(rt, action="egress.query.release") == []
    if status == 403:  # policy refusals are in the operation log, as over the API
        denied = events(rt, outcome="denied")
        assert any(e["details"].get("reason") == code for e in denied)


def test_exhausted_budget_is_a_409_with_what_is_left(analyst, rt):
    with rt.store.transaction() as s:  # the security admin's cap on one partner's ε on this dataset
        gr.do_set_cap(s, cat.find_dataset(s, "social_insurance"), Decimal("1.5"), actor=os_actor())
    assert ask(analyst, BY_DISTRICT).status_code == 200
    r = ask(analyst, 'SELECT "缴费月份", COUNT(*) AS n FROM social_insurance GROUP BY "缴费月份"')
    assert r.status_code == 409
    box = part(r.text, "wb-error")
    assert "隐私预算不足" in box and "您在数据集 social_insurance 上的隐私预算已用尽" in box
    assert '<code id="wb-error-code">budget_exhausted</code>' in box
    assert dataset_budget(r.text, "social_insurance") == "已用 ε 1 / 1.5，剩余 0.5"
    assert grant_spent(rt) == 1
    # a smaller ε still fits
    r = ask(analyst, 'SELECT "缴费月份", COUNT(*) AS n FROM social_insurance GROUP BY "缴费月份"', epsilon="0.5")
    assert r.status_code == 200 and dataset_budget(r.text, "social_insurance") == "已用 ε 1.5 / 1.5，剩余 0"


def test_an_epsilon_outside_the_grant_is_refused(analyst, rt):
    r = ask(analyst, BY_DISTRICT, epsilon="5")
    assert r.status_code == 403 and "ε 须在授权范围 [0.001, 2] 内" in part(r.text, "wb-error")
    r = ask(analyst, BY_DISTRICT, epsilon="NaN")
    assert r.status_code == 422 and "invalid_epsilon" in part(r.text, "wb-error")
    assert grant_spent(rt) == 0


def test_mock_rows_are_synthetic_clearly_labelled_and_free(analyst, rt):
    r = ask(analyst, BY_DISTRICT, "mock", dataset="social_insurance")
    assert r.status_code == 200
    mock = part(r.text, "mock")
    assert "合成数据：social_insurance" in mock and "合成数据，非真实数据" in mock and "不含任何真实记录" in mock
    header = re.findall(r"<th>(.*?)</th>", re.search(r'<table class="mock-table">(.*?)</thead>', r.text, re.S)
                        .group(1))
    with rt.store.sessions() as s:
        table = cat.load_table(s, rt.keystore, rt.suite, rt.datasets, cat.find_dataset(s, "social_insurance"))
    assert header == table.column_names
    body = re.search(r'<table class="mock-table">.*?<tbody>(.*?)</tbody>', r.text, re.S).group(1)
    rows = [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td>(.*?)</td>", tr, re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    assert len(rows) == 20
    ids = {row[header.index("身份证号")] for row in rows}
    assert not ids & set(table.column("身份证号").to_pylist())  # not one real person
    assert {row[header.index("参保区")] for row in rows} <= set(DISTRICTS)  # drawn from the public values
    assert textarea(r.text) == BY_DISTRICT
    assert grant_spent(rt) == 0 and events(rt, action="egress.query.release") == []

    r = ask(analyst, BY_DISTRICT, "mock", dataset="transit_trips")  # not in this grant
    assert r.status_code == 404 and "本场景的授权中没有数据集：transit_trips" in part(r.text, "wb-error")


def test_level4_query_waits_for_the_security_admin_then_answers(analyst, rt):
    r = ask(analyst, BY_DIAGNOSIS, "dry_run")
    assert "执行后须经安全管理员审批" in part(r.text, "dry-run")
    r = ask(analyst, BY_DIAGNOSIS)
    assert r.status_code == 202
    pending = part(r.text, "wb-pending")
    query_id = int(re.search(r"查询 #(\d+) 已提交，等待安全管理员审批", pending).group(1))
    assert f'href="/console/workbench/queries/{query_id}"' in pending
    assert 'id="result"' not in r.text and dataset_budget(r.text, "health_visits") == "已用 ε 0 / 20，剩余 20"
    assert table_rows(r.text, "held-table")[0][0] == str(query_id)

    r = analyst.get(f"/console/workbench/queries/{query_id}")
    held = part(r.text, "held")
    assert "待审批" in held and "仍在等待安全管理员审批" in held and 'id="check-again"' in held
    assert textarea(r.text) == BY_DIAGNOSIS
    # asking for the answer before the decision gives the status, not data
    r = analyst.post(f"/console/workbench/queries/{query_id}/answer", data={"csrf": csrf_of(r.text)})
    assert r.status_code == 200 and 'id="result"' not in r.text and "仍在等待" in part(r.text, "held")
    assert analyst.get("/console/approvals").status_code == 403  # not the analyst's to decide

    with other_client(rt) as sec:
        signed_in(sec, "secadmin")
        home = sec.get("/")
        assert "待审批的四级数据查询：1 个" in home.text and 'href="/console/approvals"' in home.text
        page = sec.get("/console/approvals")
        assert page.status_code == 200
        item = part(page.text, "approvals")
        assert f"查询 #{query_id}" in item and BY_DIAGNOSIS in item and "inclusive_credit" in item
        assert sec.get("/console/workbench").status_code == 403  # the admin does not query
        r = sec.post(f"/console/approvals/{query_id}", data={"csrf": csrf_of(page.text), "decision": "approve",
                                                             "note": "用途与场景一致"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/approvals?ok=query_approved"
        after = sec.get(r.headers["location"])
        assert "已批准，申请人现在可以取回结果。" in after.text and "没有待审批的查询。" in after.text
        # deciding twice is refused in place
        r = sec.post(f"/console/approvals/{query_id}", data={"csrf": csrf_of(page.text), "decision": "reject"})
        assert r.status_code == 403 and "该查询不在待审批状态" in part(r.text, "appr-error")
    approved = events(rt, action="cleanroom.query.approve", outcome="success")
    assert [e["target_id"] for e in approved if e["target_type"] == "query"] == [str(query_id)]

    r = analyst.get(f"/console/workbench/queries/{query_id}")
    held = part(r.text, "held")
    assert "已批准" in held and "用途与场景一致" in held and 'id="get-answer"' in held
    r = analyst.post(f"/console/workbench/queries/{query_id}/answer", data={"csrf": csrf_of(r.text)})
    assert r.status_code == 200
    assert [row[0] for row in table_rows(r.text, "result-table")] == DIAGNOSES
    assert re.search(r'id="receipt-spent">1<', r.text) and "4 级" in part(r.text, "receipt")
    assert dataset_budget(r.text, "health_visits") == "已用 ε 1 / 20，剩余 19"
    # fetching it again serves the stored answer at no charge
    r = analyst.post(f"/console/workbench/queries/{query_id}/answer", data={"csrf": csrf_of(r.text)})
    assert "复用已答复结果，未扣预算" in part(r.text, "receipt")
    assert dataset_budget(r.text, "health_visits") == "已用 ε 1 / 20，剩余 19"
    assert table_rows(r.text, "held-table")[0][-1].startswith("已答复")


def test_a_rejected_query_never_runs(analyst, rt):
    r = ask(analyst, BY_DIAGNOSIS)
    query_id = int(re.search(r"查询 #(\d+) 已提交", r.text).group(1))
    with other_client(rt) as sec:
        signed_in(sec, "secadmin")
        token = csrf_of(sec.get("/console/approvals").text)
        r = sec.post(f"/console/approvals/{query_id}", data={"csrf": token, "decision": "maybe"})
        assert r.status_code == 422 and "请选择批准或驳回" in part(r.text, "appr-error")
        r = sec.post(f"/console/approvals/{query_id}", data={"csrf": token, "decision": "reject", "note": "用途不符"})
        assert "已驳回。" in r.text
    r = analyst.get(f"/console/workbench/queries/{query_id}")
    assert "已被驳回，不会执行" in part(r.text, "held") and 'id="get-answer"' not in r.text
    r = analyst.post(f"/console/workbench/queries/{query_id}/answer", data={"csrf": csrf_of(r.text)})
    assert 'id="result"' not in r.text
    assert events(rt, action="egress.query.release") == []


def test_another_persons_held_query_does_not_exist_for_you(analyst, rt):
    query_id = int(re.search(r"查询 #(\d+) 已提交", ask(analyst, BY_DIAGNOSIS).text).group(1))
    with other_client(rt) as other:
        signed_in(other, "transport_analyst")
        assert other.get(f"/console/workbench/queries/{query_id}").status_code == 404
        r = other.get("/console/workbench", params={"scenario": "inclusive_credit"})
        assert r.status_code == 403 and "您没有应用场景 inclusive_credit 的有效授权" in r.text


def test_level2_ad_hoc_answers_are_dp(rt):
    with other_client(rt) as c:
        signed_in(c, "transport_analyst")
        r = ask(c, 'SELECT "出站", COUNT(*) AS n FROM transit_trips GROUP BY "出站"', scenario="commute_planning")
        assert r.status_code == 200
        receipt = part(r.text, "receipt")
        assert "精确统计" not in receipt and not re.search(r'id="receipt-spent">0<', r.text)


def test_level2_reviewed_template_answers_say_they_are_exact_with_k(rt):
    with other_client(rt) as c:
        signed_in(c, "transport_analyst")
        r = ask(c, 'SELECT "进站", COUNT(*) AS n FROM transit_trips GROUP BY "进站"', scenario="commute_planning")
        assert r.status_code == 200
        receipt = part(r.text, "receipt")
        assert "精确统计，每格至少 k 个个体（二级数据）" in receipt
        assert re.search(r"每格最少个体数 k</dt><dd>10<", receipt)
        assert re.search(r'id="receipt-spent">0<', r.text)


def test_english_switch_on_the_workbench(analyst):
    r = ask(analyst, "SELECT * FROM social_insurance")
    assert 'href="/lang/en?next=/console/workbench%3Fscenario%3Dinclusive_credit"' in r.text
    r = analyst.get("/lang/en", params={"next": "/console/workbench?scenario=inclusive_credit"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/workbench?scenario=inclusive_credit"
    r = analyst.get(r.headers["location"])
    assert '<html lang="en">' in r.text
    text = page_text(r)
    for words in ("Analysis workbench", "Privacy budget", "Granted datasets", "Dry run", "Show mock rows",
                  "ε spent 0 of 20, 20 left"):
        assert words in text
    assert "隐私预算" not in text
    r = ask(analyst, "SELECT * FROM social_insurance")
    box = part(r.text, "wb-error")
    assert "The query was refused" in box and "SELECT * is not allowed" in box and "select_star" in box
    r = ask(analyst, BY_DISTRICT)
    assert "differential privacy (OpenDP noise)" in part(r.text, "receipt") and "95% interval (±)" in r.text


def test_forms_need_their_csrf_token(analyst, rt):
    r = ask(analyst, BY_DISTRICT, csrf="forged")
    assert r.status_code == 403 and "CSRF" in r.text
    assert grant_spent(rt) == 0 and events(rt, action="egress.query.release") == []


def test_workbench_pages_obey_the_csp(analyst):
    for r in (analyst.get("/console/workbench"), ask(analyst, BY_DISTRICT), ask(analyst, BY_DISTRICT, "mock",
                                                                               dataset="social_insurance")):
        assert "style=" not in r.text and "<style" not in r.text
        for tag in re.findall(r"<script[^>]*>", r.text):
            assert 'type="application/json"' in tag or re.fullmatch(r'<script src="/static/[^"]+" defer>', tag), tag
        for src in re.findall(r'(?:href|src)="([^"]+)"', r.text):
            assert not src.startswith(("http:", "https:", "//")), src


# --- the pieces without a server -----------------------------------------------------------

def test_chart_takes_the_first_numeric_column_by_the_first_text_column():
    assert chart_of(["区", "n", "mean"], [["东城区", 3, 1.5], ["西城区", 4, None]]) == {
        "x": "区", "y": "n", "categories": ["东城区", "西城区"], "values": [3.0, 4.0]}
    assert chart_of(["n"], [[7]]) == {"x": "#", "y": "n", "categories": ["1"], "values": [7.0]}
    assert chart_of(["区"], [["东城区"]]) is None
    assert chart_of(["区", "mean"], [["东城区", None]]) is None  # nothing released to draw


def test_example_sql_quotes_chinese_names_and_avoids_level4():
    schema = [{"name": "h", "level": 4, "columns": [{"name": "诊断", "role": "dimension", "public_values": ["a"],
                                                    "bounds": None}]},
              {"name": "e", "level": 1, "columns": [{"name": "所属 区", "role": "dimension", "public_values": ["a"],
                                                    "bounds": None}]}]
    assert example_sql(schema) == 'SELECT "所属 区", COUNT(*) AS n\nFROM e\nGROUP BY "所属 区"'
    assert example_sql([]) == ""


def test_every_message_the_workbench_builds_exists():
    keys = {f"wb.status.{s}" for s in ("pending", "approved", "answered", "rejected", "failed")}
    keys |= {f"mech.{m}" for m in ("dp", "exact", "threshold", "masked_rows")}
    keys |= {f"measure.{m}" for m in ("count", "sum", "quantile", "selection")}
    keys |= {f"wb.refused.{n}" for n in (400, 403, 404, 409, 422)}
    for path in ("workbench.html", "approvals.html"):
        keys |= set(re.findall(r"""_\(\s*'([a-z0-9_.]+)'\s*[,)]""", (TEMPLATES / "console" / path).read_text()))
    assert sorted(keys - set(i18n.MESSAGES)) == []
