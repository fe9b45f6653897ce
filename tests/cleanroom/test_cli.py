"""The clean-room commands: scenario add, grant add/list/cap/revoke, dataset contributions (SQLite)."""

from __future__ import annotations

import json

from tests.cleanroom.conftest import build_city
from tests.conftest import make_runtime
from tests.test_cli import cli_env, run


def test_security_officer_registers_a_scenario_and_grants_it(tmp_path):
    url = f"sqlite:///{tmp_path}/pdzone.db"
    rt = make_runtime(tmp_path, url)
    build_city(rt, tmp_path)
    rt.store.dispose()
    env = {**cli_env(tmp_path, url), "PDZONE_KEYSTORE_PASSPHRASE": "test-passphrase"}
    r = run(env, "scenario", "add", "--zone", "zone_a", "--code", "traffic_safety", "--name", "交通安全分析",
            "--category", "public_interest", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["code"] == "traffic_safety"
    r = run(env, "scenario", "add", "--zone", "zone_a", "--code", "Bad Code", "--name", "x", "--category", "industry")
    assert r.returncode == 1 and "invalid_scenario_code" in r.stderr
    r = run(env, "grant", "add", "--partner", "测试合作方", "--dataset", "pay3", "--dataset", "pay2", "--scenario",
            "traffic_safety", "--epsilon", "4", "--default-epsilon", "0.2", "--expires", "2099-01-31", "--json")
    assert r.returncode == 0, r.stderr
    g = json.loads(r.stdout)
    assert g["datasets"] == ["pay2", "pay3"] and g["epsilon_total"] == "4" and g["default_epsilon"] == "0.2"
    assert g["expires_at"].startswith("2099-01-31")
    r = run(env, "grant", "add", "--partner", "测试合作方", "--dataset", "pay3", "--scenario", "traffic_safety",
            "--epsilon", "nan")
    assert r.returncode == 1 and "invalid_epsilon" in r.stderr
    r = run(env, "grant", "cap", "pay3", "--epsilon", "2", "--delta", "2e-6", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["delta_cap"] == 2e-6
    sql = 'SELECT "区", COUNT(*) AS n FROM pay2 GROUP BY "区"'
    r = run(env, "grant", "template", str(g["grant_id"]), "--sql", sql)
    assert r.returncode == 1 and "risk_note_required" in r.stderr
    r = run(env, "grant", "template", str(g["grant_id"]), "--sql", sql, "--risk-note", "按区全量，唯一模板", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(run(env, "grant", "templates", str(g["grant_id"])).stdout)
    assert [(t["level"], t["risk_note"], t["sql"]) for t in listed] == [(2, "按区全量，唯一模板", sql)]
    r = run(env, "dataset", "contributions", "pay3", "--rows", "5", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["max_contributions"] == 5
    grants = json.loads(run(env, "grant", "list").stdout)
    assert [x["scenario"] for x in grants][-1] == "traffic_safety"
    assert json.loads(run(env, "grant", "revoke", str(g["grant_id"]), "--json").stdout)["revoked"] is True
