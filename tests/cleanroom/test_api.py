"""The clean room over the API, on the demo city: status codes, bodies, receipts, budgets, approvals."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pdzone.web.app import create_app
from pdzone.web.demo import seed
from tests.web.test_api import token

Q = "/api/v1/cleanroom/queries"
DP = 'SELECT "参保区", COUNT(*) AS n, AVG("缴费基数") AS avg_base FROM social_insurance GROUP BY "参保区"'


@pytest.fixture
def client(rt):
    seed(rt, rows=400)
    with TestClient(create_app(rt, maintain_log=False)) as c:
        c.rt = rt
        yield c


def test_query_answers_with_columns_rows_and_receipt(client):
    a = token(client, "analyst")
    before = client.get("/api/v1/cleanroom/budget", params={"scenario": "inclusive_credit"}, headers=a).json()
    r = client.post(Q, json={"sql": DP, "scenario": "inclusive_credit"}, headers=a)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == ["参保区", "n", "avg_base"] and len(body["rows"]) == 10
    assert all(len(row) == 3 for row in body["rows"])
    rc = body["receipt"]
    assert rc["epsilon_spent"] == "1" and rc["mechanism"] == "dp" and rc["event_id"] > 0
    client.rt.maintain_log()
    seen = client.get(f"/api/v1/cleanroom/receipts/{rc['event_id']}", headers=a).json()
    assert seen["integrated"] is True and seen["seq"] >= 1 and seen["digest"] == rc["digest"]
    assert client.get(f"/api/v1/cleanroom/receipts/{rc['event_id']}",
                      headers=token(client, "transport_analyst")).status_code == 404  # not theirs
    after = client.get("/api/v1/cleanroom/budget", params={"scenario": "inclusive_credit"}, headers=a).json()
    assert before["grants"][0]["epsilon_left"] == "20" and after["grants"][0]["epsilon_left"] == "19"
    assert after["grants"][0]["dataset_budgets"][1]["spent"] == "1" or \
        any(d["dataset"] == "social_insurance" and d["spent"] == "1" for d in after["grants"][0]["dataset_budgets"])


def test_error_statuses_and_codes(client):
    a = token(client, "analyst")
    cases = [
        ({"sql": "SELEC 1", "scenario": "inclusive_credit"}, 400, "sql_syntax"),
        ({"sql": "SELECT * FROM social_insurance", "scenario": "inclusive_credit"}, 403, "select_star"),
        ({"sql": 'SELECT "身份证号", COUNT(*) FROM social_insurance GROUP BY 1', "scenario": "inclusive_credit"},
         403, "column_not_allowed_in_group"),
        ({"sql": "SELECT COUNT(*) FROM read_parquet('/etc/passwd')", "scenario": "inclusive_credit"}, 403,
         "sql_not_allowed"),
        ({"sql": "SELECT COUNT(*) FROM transit_trips", "scenario": "inclusive_credit"}, 403, "dataset_not_granted"),
        ({"sql": "SELECT COUNT(*) FROM social_insurance", "scenario": "commute_planning"}, 403, "no_grant"),
        ({"sql": "SELECT COUNT(*) FROM social_insurance", "scenario": "inclusive_credit", "epsilon": "NaN"}, 422,
         "invalid_epsilon"),
        ({"sql": "SELECT COUNT(*) FROM social_insurance", "scenario": "inclusive_credit", "epsilon": 3}, 403,
         "epsilon_out_of_range"),
        ({"scenario": "inclusive_credit"}, 422, None),
    ]
    for body, status, code in cases:
        r = client.post(Q, json=body, headers=a)
        assert r.status_code == status, (body, r.text)
        if code:
            assert r.json()["code"] == code and r.json()["message_zh"] and r.json()["message_en"]
    assert client.post(Q, json={"sql": "SELECT 1", "scenario": "x"}).status_code == 401


def test_budget_exhausted_is_409(client):
    a = token(client, "analyst")
    for i in range(10):
        r = client.post(Q, json={"sql": f'SELECT COUNT(*) FROM social_insurance WHERE "缴费基数" > {i}',
                                 "scenario": "inclusive_credit", "epsilon": 2}, headers=a)
        assert r.status_code == 200, r.text
    r = client.post(Q, json={"sql": 'SELECT COUNT(*) FROM social_insurance WHERE "缴费基数" > 99',
                             "scenario": "inclusive_credit", "epsilon": 2}, headers=a)
    assert r.status_code == 409 and r.json()["code"] == "budget_exhausted"


def test_dry_run_schema_and_mock(client):
    a = token(client, "analyst")
    r = client.post("/api/v1/cleanroom/dry-run", json={"sql": DP, "scenario": "inclusive_credit", "epsilon": 0.5},
                    headers=a)
    assert r.status_code == 200 and r.json()["epsilon"] == "0.5" and len(r.json()["budget"]["parts"]) == 3
    schema = client.get("/api/v1/cleanroom/schema", params={"scenario": "inclusive_credit"}, headers=a).json()
    names = {d["name"] for d in schema["datasets"]}
    assert names == {"social_insurance", "enterprise_registry", "health_visits"}
    si = next(d for d in schema["datasets"] if d["name"] == "social_insurance")
    assert next(c for c in si["columns"] if c["name"] == "缴费基数")["bounds"] == [6326.0, 35283.0]
    m = client.get("/api/v1/cleanroom/mock/social_insurance", params={"rows": 50}, headers=a).json()
    assert m["synthetic"] and len(m["rows"]) == 50 and m["columns"][0] == "身份证号"
    assert client.get("/api/v1/cleanroom/budget", params={"scenario": "inclusive_credit"},
                      headers=a).json()["grants"][0]["epsilon_spent"] == "0"


def test_level_4_query_waits_for_approval(client):
    a, sec = token(client, "analyst"), token(client, "secadmin")
    sql = 'SELECT "诊断", COUNT(*) AS n FROM health_visits GROUP BY "诊断"'
    r = client.post(Q, json={"sql": sql, "scenario": "inclusive_credit"}, headers=a)
    assert r.status_code == 202 and r.json()["status"] == "pending"
    qid = r.json()["query_id"]
    assert client.get(f"{Q}/{qid}", headers=a).json()["status"] == "pending"
    assert client.post(f"/api/v1/cleanroom/approvals/{qid}", json={"approve": True}, headers=a).status_code == 403
    pending = client.get("/api/v1/cleanroom/approvals", headers=sec).json()
    assert [p["query_id"] for p in pending] == [qid]
    assert client.post(f"/api/v1/cleanroom/approvals/{qid}", json={"approve": True, "note": "ok"},
                       headers=sec).json()["status"] == "approved"
    done = client.get(f"{Q}/{qid}", headers=a).json()
    assert done["status"] == "answered" and done["columns"] == ["诊断", "n"] and len(done["rows"]) == 6
    again = client.get(f"{Q}/{qid}", headers=a).json()
    assert again["rows"] == done["rows"] and again["receipt"]["epsilon_spent"] == "0"  # charged once


def test_scenarios_and_grants_by_the_security_admin_only(client):
    sec, a = token(client, "secadmin"), token(client, "analyst")
    body = {"zone": "bj_comprehensive", "code": "tax_credit", "name": "纳税信用", "category": "industry"}
    assert client.post("/api/v1/cleanroom/scenarios", json=body, headers=a).status_code == 403
    assert client.post("/api/v1/cleanroom/scenarios", json=body, headers=sec).status_code == 201
    assert client.post("/api/v1/cleanroom/scenarios", json=body, headers=sec).json()["code"] == "scenario_exists"
    orgs = client.get("/api/v1/orgs", headers=sec).json()
    partner = next(o for o in orgs if o["name"] == "北京普惠征信服务有限公司")
    g = {"partner_org_id": partner["id"], "datasets": ["social_insurance"], "scenario": "tax_credit",
         "epsilon": "2", "expires": "2099-12-31"}
    r = client.post("/api/v1/cleanroom/grants", json=g, headers=sec)
    assert r.status_code == 201 and r.json()["epsilon_total"] == "2" and r.json()["expires_at"].startswith("2099")
    assert client.post("/api/v1/cleanroom/grants", json=g, headers=a).status_code == 403
    gid = r.json()["grant_id"]
    assert client.post(f"/api/v1/cleanroom/grants/{gid}/revoke", headers=sec).json()["revoked"] is True
    r = client.post(Q, json={"sql": "SELECT COUNT(*) FROM social_insurance", "scenario": "tax_credit"}, headers=a)
    assert r.status_code == 403 and r.json()["code"] == "no_grant"


def test_partners_see_only_coarse_metadata_of_level_3_data(client):
    """Exact row counts, per-column detection results and version digests are facts about the rows."""
    a = token(client, "analyst")
    with client.rt.store.sessions() as s:
        from pdzone.catalog import actions as cat

        ds = cat.find_dataset(s, "social_insurance")
        exact_rows, level = ds.row_count, ds.level
    assert level >= 3
    from pdzone.egress.gate import coarse_count
    assert [coarse_count(n) for n in (0, 3, 87, 400, 1234, 98765)] == [0, 0, 90, 400, 1200, 99000]
    schema = client.get("/api/v1/cleanroom/schema", params={"scenario": "inclusive_credit"}, headers=a).json()
    si = next(d for d in schema["datasets"] if d["name"] == "social_insurance")
    assert si["coarse"] and si["rows"] == coarse_count(exact_rows)
    assert all(c["pii_type"] is None for c in si["columns"])
    doc = client.get("/api/v1/datasets/social_insurance", headers=a).json()
    assert doc["rows"] == si["rows"] and all(c["pii"] is None for c in doc["columns"])
    assert all(v["digest"] is None and v["rows"] % 10 == 0 for v in doc["versions"])
    assert not doc["suggestion_reasons"]
    listed = {d["name"]: d for d in client.get("/api/v1/datasets", headers=a).json()}
    assert listed["social_insurance"]["rows"] == si["rows"]
    dcat = client.get("/api/v1/datasets/social_insurance/dcat", headers=a).json()
    assert dcat["pdz:rows"] == si["rows"] and all(c["pii"] is None for c in dcat["pdz:columns"])
    m = client.get("/api/v1/cleanroom/mock/social_insurance", params={"rows": 20}, headers=a).json()
    ids = m["rows"][0][m["columns"].index("身份证号")]
    assert not (isinstance(ids, str) and len(ids) == 18 and ids[:17].isdigit())   # no fake ID numbers tell its type
    # the providing department and the security admin still see the full document
    full = client.get("/api/v1/datasets/social_insurance", headers=token(client, "secadmin")).json()
    assert full["rows"] == exact_rows and any(c["pii"] for c in full["columns"])
    assert all(v["digest"] for v in full["versions"])


def test_level_2_templates_are_reviewed_by_the_security_admin(client):
    sec, a = token(client, "secadmin"), token(client, "transport_analyst")
    sql = 'SELECT "出站", COUNT(*) AS n FROM transit_trips GROUP BY "出站"'
    adhoc = client.post(Q, json={"sql": sql, "scenario": "commute_planning", "epsilon": "0.5"}, headers=a).json()
    assert adhoc["receipt"]["mechanism"] == "dp" and adhoc["receipt"]["epsilon_spent"] == "0.5"
    grant_id = adhoc["receipt"]["grant_id"]
    path = f"/api/v1/cleanroom/grants/{grant_id}/templates"
    assert client.post(path, json={"sql": sql, "risk_note": "x"}, headers=a).status_code == 403
    r = client.post(path, json={"sql": sql}, headers=sec)
    assert r.status_code == 422 and r.json()["code"] == "risk_note_required"
    r = client.post(path, json={"sql": sql, "risk_note": "按出站站点全量，唯一模板"}, headers=sec)
    assert r.status_code == 200 and r.json()["level"] == 2
    listed = client.get(path, headers=sec).json()
    assert any(t["sql"] == sql and t["risk_note"] for t in listed)
    exact = client.post(Q, json={"sql": sql, "scenario": "commute_planning"}, headers=a).json()
    assert exact["receipt"]["mechanism"] == "threshold" and exact["receipt"]["k"] == 10
    assert exact["receipt"]["epsilon_spent"] == "0"


def test_an_aggregate_only_grant_releases_no_level_1_group_of_fewer_rows_than_the_minimum(client):
    """GROUP BY every column of level-1 data under a grant without the rows form would give the masked
    rows one by one (each n = 1): groups of fewer than PDZONE_CLEANROOM_MIN_GROUP_LEVEL1 rows are withheld."""
    a = token(client, "analyst")
    m = client.rt.settings.cleanroom_min_group_level1
    assert m == 5
    refused = client.post(Q, json={"sql": 'SELECT "企业名称" FROM enterprise_registry', "scenario": "inclusive_credit"},
                          headers=a)
    assert refused.status_code == 403 and refused.json()["code"] == "form_not_granted"
    attack = ('SELECT "企业名称","法定代表人","注册资本（万元）","成立日期","所属区",COUNT(*) AS n '
              'FROM enterprise_registry GROUP BY 1, 2, 3, 4, 5')
    r = client.post(Q, json={"sql": attack, "scenario": "inclusive_credit"}, headers=a)
    assert r.status_code == 200, r.text
    out = r.json()
    n = out["columns"].index("n")
    assert all(row[n] >= m for row in out["rows"]) and len(out["rows"]) < 50
    assert out["receipt"]["mechanism"] == "exact" and out["receipt"]["epsilon_spent"] == "0"
    assert out["receipt"]["min_group"] == m
    dry = client.post("/api/v1/cleanroom/dry-run", json={"sql": attack, "scenario": "inclusive_credit"}, headers=a)
    assert dry.status_code == 200 and dry.json()["min_group"] == m
    # coarse groups still come back, and with no GROUP BY nothing is withheld
    by_district = client.post(Q, json={"sql": 'SELECT "所属区", COUNT(*) AS n FROM enterprise_registry GROUP BY 1',
                                       "scenario": "inclusive_credit"}, headers=a).json()
    total = client.post(Q, json={"sql": "SELECT COUNT(*) AS n FROM enterprise_registry",
                                 "scenario": "inclusive_credit"}, headers=a).json()
    assert by_district["rows"] and all(row[1] >= m for row in by_district["rows"])
    assert total["rows"][0][0] >= 1 and "min_group" not in total["receipt"]
    assert sum(row[1] for row in by_district["rows"]) <= total["rows"][0][0]
