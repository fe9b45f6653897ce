"""The catalog over the API: visibility by zone, decisions by role, R-28, DCAT."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from pdzone.web.app import create_app
from pdzone.web.demo import seed
from tests.web.test_api import token


@pytest.fixture
def client(rt):
    seed(rt, rows=200)
    with TestClient(create_app(rt, maintain_log=False)) as c:
        c.rt = rt
        yield c


def wait_job(client, job_id: int, headers: dict, timeout: float = 60.0) -> dict:
    """Poll the job status route until the job is done (the app's in-process worker runs it)."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/v1/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        if r.json()["done"] or time.monotonic() > deadline:
            return r.json()
        time.sleep(0.1)


def test_catalog_lists_by_zone_and_shows_metadata_only(client):
    a = token(client, "transport_analyst")
    names = {d["name"] for d in client.get("/api/v1/datasets", headers=a).json()}
    assert names == {"transit_trips"}
    assert client.get("/api/v1/datasets/social_insurance", headers=a).status_code == 404
    sec = token(client, "secadmin")
    all_names = {d["name"] for d in client.get("/api/v1/datasets", headers=sec).json()}
    assert all_names == {"enterprise_registry", "social_insurance", "transit_trips", "health_visits"}
    doc = client.get("/api/v1/datasets/social_insurance", headers=sec).json()
    assert doc["level"] == 3 and doc["source_encoding"] == "gb18030" and doc["privacy_unit"] == "身份证号"
    assert [c["name"] for c in doc["columns"]][:2] == ["身份证号", "姓名"]
    assert "values" not in str(doc.keys())
    dcat = client.get("/api/v1/datasets/social_insurance/dcat", headers=sec).json()
    assert dcat["@type"] == "dcat:Dataset" and dcat["dcat:distribution"] == []
    assert client.get("/api/v1/datasets?level=4", headers=sec).json()[0]["name"] == "health_visits"
    assert [d["name"] for d in client.get("/api/v1/datasets?q=企业", headers=sec).json()] == ["enterprise_registry"]


def test_level_decisions_by_provider_own_data_and_security_admin(client):
    body = {"level": 4, "basis": "复核后提升为四级"}
    r = client.post("/api/v1/datasets/transit_trips/level", json=body, headers=token(client, "provider"))
    assert r.status_code in (403, 404)  # another department's data (and another zone)
    r = client.post("/api/v1/datasets/social_insurance/level", json=body, headers=token(client, "provider"))
    assert r.status_code == 200 and r.json()["level"] == 4
    assert r.json()["decisions"][-1]["by"].startswith("token:") or r.json()["decisions"][-1]["by"].startswith("user:")
    op = token(client, "operator")
    r = client.post("/api/v1/datasets/social_insurance/level", json=body, headers=op)
    assert r.status_code == 422 and r.json()["code"] == "nothing_to_change"
    r = client.post("/api/v1/datasets/social_insurance/level", json={"level": 2, "basis": "想降级"}, headers=op)
    assert r.status_code == 202 and r.json()["level"] == 4  # staff only propose a lower level
    assert r.json()["proposed"][0]["field"] == "level" and r.json()["proposed"][0]["value"] == 2
    assert client.post("/api/v1/datasets/social_insurance/level", json=body,
                       headers=token(client, "analyst")).status_code == 403
    r = client.post("/api/v1/datasets/transit_trips/level", json={"level": 1, "basis": ""},
                    headers=token(client, "secadmin"))
    assert r.status_code == 422


def test_operator_sets_roles_but_not_bounds(client):
    op = token(client, "operator")
    r = client.post("/api/v1/datasets/social_insurance/columns/缴费基数", json={"role": "measure"}, headers=op)
    assert r.status_code == 200
    r = client.post("/api/v1/datasets/social_insurance/columns/缴费基数", json={"bounds": [0, 40000]}, headers=op)
    assert r.status_code == 202  # wider bounds: a proposal, not in force
    assert next(c for c in r.json()["columns"] if c["name"] == "缴费基数")["bounds"] == [6326.0, 35283.0]
    r = client.post("/api/v1/datasets/social_insurance/columns/缴费基数", json={"bounds": [7000, 30000]},
                    headers=op)
    assert r.status_code == 200  # narrower bounds tighten: in force at once
    sec = token(client, "secadmin")
    r = client.post("/api/v1/datasets/social_insurance/columns/缴费基数", json={"bounds": [0, 40000]}, headers=sec)
    assert r.status_code == 422 and r.json()["code"] == "basis_required"
    r = client.post("/api/v1/datasets/social_insurance/columns/缴费基数",
                    json={"bounds": [0, 40000], "basis": "社保缴费基数上限（政策）"}, headers=sec)
    assert r.status_code == 200
    col = next(c for c in r.json()["columns"] if c["name"] == "缴费基数")
    assert col["role"] == "measure" and col["bounds"] == [0.0, 40000.0]
    assert r.json()["proposals"] == []  # the decision settled the staff's proposal


def test_unfiled_operator_is_refused(client):
    sec = token(client, "secadmin")
    client.post("/api/v1/users/operator/filings", json={"zone": "bj_comprehensive", "decision": "revoke",
                                                         "reason": "离岗"}, headers=sec)
    r = client.post("/api/v1/datasets/social_insurance/columns/缴费基数", json={"role": "measure"},
                    headers=token(client, "operator"))
    assert r.status_code == 403 and r.json()["code"] == "not_filed"


def test_r28_flag(client):
    r = client.post("/api/v1/datasets/health_visits/r28", json={"reason": "law", "note": "法律禁止开放"},
                    headers=token(client, "secadmin"))
    assert r.status_code == 200 and r.json()["r28_reason"] == "law"
    bad = client.post("/api/v1/datasets/health_visits/r28", json={"reason": "whim"}, headers=token(client, "secadmin"))
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_r28_reason"


def test_filed_operator_uploads_a_gbk_csv_and_sees_pii_and_a_suggested_level(client):
    from tests.factories import id_number

    lines = [f"{n},{id_number()},{i}" for i, n in enumerate(["张三", "李四", "王五", "赵六", "陈静"] * 8)]
    csv_bytes = ("姓名,身份证号,金额\n" + "\n".join(lines) + "\n").encode("gbk")
    form = {"zone": "bj_comprehensive", "name": "uploaded", "provider": "北京市市场监督管理局", "title": "上传测试"}
    op = token(client, "operator")
    r = client.post("/api/v1/datasets", data=form, files={"file": ("人员.csv", csv_bytes, "text/csv")}, headers=op)
    assert r.status_code == 202, r.text  # queued: the import runs as a background job
    assert r.headers["location"] == r.json()["status_url"] == f"/api/v1/jobs/{r.json()['job_id']}"
    job = wait_job(client, r.json()["job_id"], op)
    assert job["status"] == "succeeded" and job["result"] == {"dataset": "uploaded", "scanned": True}
    doc = client.get("/api/v1/datasets/uploaded", headers=op).json()
    assert doc["source_encoding"] == "gb18030" and doc["level"] is None and doc["suggested_level"] == 3
    assert {c["name"]: (c["pii"] or {}).get("type") for c in doc["columns"]}["身份证号"] == "resident_id"
    r = client.post("/api/v1/datasets", data={**form, "name": "uploaded2"},
                    files={"file": ("x.csv", csv_bytes, "text/csv")}, headers=token(client, "analyst"))
    assert r.status_code == 403
    bad = client.post("/api/v1/datasets", data={**form, "name": "bad"},
                      files={"file": ("x.csv", b"a,b\n1,2\n3,4,5\n", "text/csv")}, headers=op)
    assert bad.status_code == 202
    failed = wait_job(client, bad.json()["job_id"], op)
    assert failed["status"] == "failed" and failed["error"]["code"] == "bad_import_file"
    assert failed["error"]["details"]["line"] == 3
    assert client.get(bad.json()["status_url"], headers=token(client, "analyst")).status_code == 404
    taken = client.post("/api/v1/datasets", data=form, files={"file": ("x.csv", csv_bytes, "text/csv")}, headers=op)
    assert taken.status_code == 409 and taken.json()["code"] == "dataset_exists"  # checked before queueing


def test_preview_is_masked_audited_and_refused_under_r28(client):
    prov = token(client, "provider")
    r = client.get("/api/v1/datasets/social_insurance/preview?limit=5", headers=prov)
    assert r.status_code == 200
    body = r.json()
    assert len(body["rows"]) == 5 and body["receipt"]["rows"] == 5 and body["receipt"]["event_id"] > 0
    from pdzone.catalog.actions import find_dataset, load_table

    rt = client.rt
    with rt.store.sessions() as s:
        real = set(load_table(s, rt.keystore, rt.suite, rt.datasets, find_dataset(s, "social_insurance"))
                   .column("身份证号").to_pylist())
    shown = {row["身份证号"] for row in body["rows"]}
    assert not shown & real  # no raw ID number of level-3 data
    assert client.get("/api/v1/datasets/social_insurance/preview", headers=token(client, "analyst")).status_code == 403
    client.post("/api/v1/datasets/social_insurance/r28", json={"reason": "agreement"},
                headers=token(client, "secadmin"))
    r = client.get("/api/v1/datasets/social_insurance/preview", headers=prov)
    assert r.status_code == 403 and r.json()["code"] == "r28_prohibited"
