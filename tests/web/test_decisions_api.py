"""Decisions stay with those who may decide (issue 8, part 3), through the API as the demo's real roles.

Operator staff propose what relaxes protection; the provider (own data) or the security admin decides, with a
basis; nothing proposed is in force before it is accepted. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from pdzone.audit.models import AuditEvent
from pdzone.catalog.models import Proposal
from tests.factories import id_number
from tests.web.test_api import token
from tests.web.test_datasets_api import (
    client,  # noqa: F401  (the fixture: the demo city, per test)
    wait_job,
)

BASIS = "经评估，姓名仅用于分组统计"

DS = "/api/v1/datasets"
Q = "/api/v1/cleanroom/queries"
BY_NAME = """SELECT COUNT(*) AS n FROM social_insurance WHERE "姓名" = '张三'"""


def _col(doc: dict, name: str) -> dict:
    return next(c for c in doc["columns"] if c["name"] == name)


def _actions(c, target: str) -> list[str]:
    with c.rt.store.sessions() as s:
        return list(s.scalars(select(AuditEvent.action).where(AuditEvent.target_id == target)
                              .order_by(AuditEvent.id)))


def test_staff_cannot_turn_a_name_column_into_a_dimension_alone(client):  # noqa: F811
    op, prov, a = token(client, "operator"), token(client, "provider"), token(client, "analyst")
    assert _col(client.get(f"{DS}/social_insurance", headers=op).json(), "姓名")["pii"]["type"] == "person_name"
    r = client.post(f"{DS}/social_insurance/columns/姓名", json={"role": "dimension", "basis": "按姓名统计"},
                    headers=op)
    assert r.status_code == 202, r.text
    assert _col(r.json(), "姓名")["role"] == "identifier"  # not in force
    [proposal] = r.json()["proposed"]
    assert (proposal["field"], proposal["value"], proposal["before"], proposal["state"]) == \
        ("role", "dimension", "identifier", "pending")
    # the partner still cannot filter on a person's name
    r = client.post(Q, json={"sql": BY_NAME, "scenario": "inclusive_credit"}, headers=a)
    assert r.status_code == 403 and r.json()["code"] == "column_not_allowed_in_where"
    # the same proposal twice waits once
    again = client.post(f"{DS}/social_insurance/columns/姓名", json={"role": "measure"}, headers=op)
    assert again.status_code == 409 and again.json()["code"] == "proposal_pending"
    # the provider sees it, staff cannot decide it, a partner sees nothing
    pending = client.get(f"{DS}/social_insurance/proposals", headers=prov).json()
    assert [p["id"] for p in pending] == [proposal["id"]] and pending[0]["proposed_by"].startswith(("user:", "token:"))
    url = f"{DS}/social_insurance/proposals/{proposal['id']}"
    assert client.post(url, json={"decision": "accept", "basis": "自批"}, headers=op).status_code == 403
    assert client.get(f"{DS}/social_insurance/proposals", headers=a).status_code == 403
    assert client.post(url, json={"decision": "accept", "basis": ""}, headers=prov).status_code == 422
    # accepted by the provider, with its basis: now in force, recorded as the provider's decision
    r = client.post(url, json={"decision": "accept", "basis": BASIS}, headers=prov)
    assert r.status_code == 200, r.text
    assert _col(r.json(), "姓名")["role"] == "dimension"
    decided = r.json()["decided"]
    assert decided["state"] == "accepted" and decided["basis"] == BASIS
    assert decided["decided_by"] != proposal["proposed_by"]
    last = [d for d in r.json()["decisions"] if d["column"] == "姓名"][-1]
    assert (last["value"], last["basis"], last["by"]) == ("dimension", BASIS, decided["decided_by"])
    r = client.post(url, json={"decision": "reject", "basis": "改主意"}, headers=prov)
    assert r.status_code == 409 and r.json()["code"] == "proposal_decided"
    acts = _actions(client, "social_insurance")
    assert acts.index("catalog.proposal.create") < acts.index("catalog.proposal.accept")


def test_a_rejected_proposal_changes_nothing_and_tightening_applies_at_once(client):  # noqa: F811
    op, sec = token(client, "operator"), token(client, "secadmin")
    r = client.post(f"{DS}/social_insurance/columns/身份证号", json={"role": "join_key"}, headers=op)
    assert r.status_code == 202  # a detected ID number: any role but identifier is a decision
    pid = r.json()["proposed"][0]["id"]
    r = client.post(f"{DS}/social_insurance/proposals/{pid}", json={"decision": "reject", "basis": "直接标识符"},
                    headers=sec)
    assert r.status_code == 200 and _col(r.json(), "身份证号")["role"] == "identifier"
    assert r.json()["decided"]["state"] == "rejected"
    # tightening by staff applies directly: a dimension becomes an identifier; masking a column with redact
    r = client.post(f"{DS}/social_insurance/columns/参保区", json={"role": "identifier"}, headers=op)
    assert r.status_code == 200 and _col(r.json(), "参保区")["role"] == "identifier"
    r = client.post(f"{DS}/social_insurance/columns/参保区", json={"mask_policy": {"op": "redact"}}, headers=op)
    assert r.status_code == 200 and _col(r.json(), "参保区")["mask_policy"] == {"op": "redact"}
    # ...and back is a relaxation again: proposals, nothing in force
    r = client.post(f"{DS}/social_insurance/columns/参保区", json={"role": "dimension",
                                                                "mask_policy": {"op": "keep", "released": True}},
                    headers=op)
    assert r.status_code == 202 and {p["field"] for p in r.json()["proposed"]} == {"role", "mask_policy"}
    assert _col(r.json(), "参保区")["role"] == "identifier"
    assert _col(r.json(), "参保区")["mask_policy"] == {"op": "redact"}
    # adding public values is a decision; a subset of them tightens
    r = client.post(f"{DS}/social_insurance/columns/缴费月份", json={"public_values": ["2025-01", "2099-01"]},
                    headers=op)
    assert r.status_code == 202
    r = client.post(f"{DS}/social_insurance/columns/缴费月份", json={"public_values": ["2025-01", "2025-02"]},
                    headers=op)
    assert r.status_code == 200 and _col(r.json(), "缴费月份")["public_values"] == ["2025-01", "2025-02"]
    assert [p["field"] for p in r.json()["proposals"] if p["column"] == "缴费月份"] == ["public_values"]  # waits
    r = client.post(f"{DS}/social_insurance/columns/个人缴费额", json={"bounds": [0, 1000]}, headers=op)
    assert r.status_code == 200 and _col(r.json(), "个人缴费额")["bounds"] == [0.0, 1000.0]


def _ids_csv(n: int = 50) -> bytes:
    names = ["张三", "李四", "王五", "赵六", "陈静"]
    lines = [f"{id_number()},{names[i % 5]}{i},{i % 7}" for i in range(n)]
    return ("身份证号,姓名,次数\n" + "\n".join(lines) + "\n").encode("utf-8")


def test_a_level_given_at_import_by_staff_counts_as_level_4_until_confirmed(client):  # noqa: F811
    op, sec, prov, a = (token(client, u) for u in ("operator", "secadmin", "provider", "analyst"))
    form = {"zone": "bj_comprehensive", "name": "id_list", "provider": "北京市市场监督管理局", "title": "人员名单",
            "level": "1", "basis": "公开信息", "privacy_unit": "身份证号"}
    r = client.post(DS, data=form, files={"file": ("名单.csv", _ids_csv(), "text/csv")}, headers=op)
    assert r.status_code == 202, r.text   # queued: the import runs as a job
    job = wait_job(client, r.json()["job_id"], op)
    assert job["status"] == "succeeded", job
    doc = client.get(f"{DS}/id_list", headers=op).json()
    assert (doc["level"], doc["proposed_level"], doc["effective_level"], doc["suggested_level"]) == (None, 1, 4, 3)
    assert [p["field"] for p in doc["proposals"]] == ["level"]
    # the security admin cannot grant rows of it (rows are for level 1 only), and an aggregate grant answers
    # no GROUP BY on the ID numbers: the dataset is treated as level 4
    partner = next(o for o in client.get("/api/v1/orgs", headers=sec).json() if o["name"] == "北京普惠征信服务有限公司")
    g = {"partner_org_id": partner["id"], "datasets": ["id_list"], "scenario": "inclusive_credit", "epsilon": "2",
         "forms": ["aggregate", "rows"]}
    r = client.post("/api/v1/cleanroom/grants", json=g, headers=sec)
    assert r.status_code == 422, r.text
    r = client.post("/api/v1/cleanroom/grants", json={**g, "forms": ["aggregate"]}, headers=sec)
    assert r.status_code == 201, r.text
    r = client.post(Q, json={"sql": 'SELECT "身份证号", "姓名", COUNT(*) AS n FROM id_list GROUP BY 1, 2',
                             "scenario": "inclusive_credit"}, headers=a)
    assert r.status_code == 403 and r.json()["code"] == "column_not_allowed_in_group"
    assert "rows" not in r.json()
    # confirmed by the provider: the decision is the provider's, with the provider's basis
    pid = doc["proposals"][0]["id"]
    r = client.post(f"{DS}/id_list/proposals/{pid}", json={"decision": "accept", "basis": "核对后确认为一级"},
                    headers=prov)
    assert r.status_code == 200, r.text
    assert (r.json()["level"], r.json()["level_basis"], r.json()["proposed_level"]) == (1, "核对后确认为一级", None)
    assert r.json()["level_set_by"] == r.json()["decided"]["decided_by"] != doc["proposals"][0]["proposed_by"]


def test_one_pending_proposal_under_40_parallel_requests(client):  # noqa: F811
    op, prov = token(client, "operator"), token(client, "provider")
    start = threading.Barrier(40)

    def propose(i: int) -> int:
        start.wait()
        return client.post(f"{DS}/social_insurance/columns/姓名", json={"role": "dimension", "basis": f"#{i}"},
                           headers=op).status_code

    with ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(propose, range(40)))
    assert sorted(codes) == [202] + [409] * 39
    with client.rt.store.sessions() as s:
        assert len(s.scalars(select(Proposal).where(Proposal.state == "pending")).all()) == 1
        pid = s.scalar(select(Proposal.id).where(Proposal.state == "pending"))
    assert _actions(client, "social_insurance").count("catalog.proposal.create") == 1
    start = threading.Barrier(40)

    def decide(i: int) -> int:
        start.wait()
        return client.post(f"{DS}/social_insurance/proposals/{pid}",
                           json={"decision": "accept" if i % 2 else "reject", "basis": f"#{i}"},
                           headers=prov).status_code

    with ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(decide, range(40)))
    assert sorted(codes) == [200] + [409] * 39
    acts = _actions(client, "social_insurance")
    assert acts.count("catalog.proposal.accept") + acts.count("catalog.proposal.reject") == 1
