"""Clean-room queries end to end on both databases: grants, levels, budgets, stored answers, approvals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from pdzone.audit.models import AuditEvent
from pdzone.cleanroom import mock, service
from pdzone.egress import grants as gr
from pdzone.egress.models import DatasetBudget, Grant, StoredAnswer
from pdzone.errors import BadRequest, Conflict, Forbidden, Invalid
from tests.cleanroom.conftest import DISTRICTS, ask, people_table

DP_SQL = 'SELECT "区", COUNT(*) AS n, AVG("金额") AS avg_amount FROM pay3 GROUP BY "区"'


def _grant(city, scenario="research") -> Grant:
    with city.rt.store.sessions() as s:
        return gr.active_grant(s, org_id=city.partner_id, scenario_code=scenario)


def test_dp_group_by_public_values_releases_every_district_with_noise(city):
    r = ask(city, DP_SQL)
    assert r["columns"] == ["区", "n", "avg_amount"]
    assert sorted(row[0] for row in r["rows"]) == sorted(DISTRICTS)  # all public keys, even before looking
    truth = 300  # 100 people x 3 rows per district
    for _, n, avg in r["rows"]:
        assert abs(n - truth) < 150 and (avg is None or 0 <= avg <= 100)
    rc = r["receipt"]
    assert rc["mechanism"] == "dp" and rc["level"] == 3 and rc["epsilon_spent"] == "1" and rc["epsilon_left"] == "9"
    parts = rc["budget"]["parts"]
    assert sum(Decimal(str(p["epsilon"])) for p in parts) == pytest.approx(Decimal(1), abs=Decimal("1e-8"))
    assert {p["measure"] for p in parts} == {"count", "sum"} and all(p["noise_scale"] > 0 for p in parts)
    assert rc["event_id"] and len(rc["digest"]) == 64


def test_answers_are_noisy_not_exact(sqlite_city):
    """Distinct ε give distinct noise; no answer equals the exact count everywhere."""
    answers = [ask(sqlite_city, 'SELECT "区", COUNT(*) AS n FROM pay3 GROUP BY "区"', epsilon=e)["rows"]
               for e in ("0.5", "0.6", "0.7")]
    exact = all(n == 300 for rows in answers for _, n in rows)
    assert not exact and answers[0] != answers[1]


def test_charge_and_audit_commit_with_the_answer(city):
    ask(city, DP_SQL, epsilon="0.25")
    with city.rt.store.sessions() as s:
        g = s.get(Grant, _grant(city).id)
        assert g.epsilon_spent == gr.to_nano(Decimal("0.25"))
        acct = s.scalars(select(DatasetBudget)).one()
        assert acct.spent == gr.to_nano(Decimal("0.25"))
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "egress.query.release")).one()
        assert '"scenario":"research"' in ev.details and "pay3" in ev.details and '"epsilon":"0.25"' in ev.details


def test_same_question_is_served_from_the_answer_store_at_no_charge(city):
    first = ask(city, DP_SQL)
    again = ask(city, 'select  "区" , count(*) as n, avg("金额") as avg_amount from pay3 group by "区"')
    assert again["rows"] == first["rows"] and again["receipt"]["from_store"] is True
    assert again["receipt"]["epsilon_spent"] == "0" and again["receipt"]["epsilon_left"] == "9"
    other_eps = ask(city, DP_SQL, epsilon="0.5")
    assert other_eps["receipt"]["epsilon_spent"] == "0.5" and other_eps["receipt"]["from_store"] is False
    with city.rt.store.sessions() as s:
        assert s.scalar(select(func.count()).select_from(StoredAnswer)) == 2


def test_budget_runs_out_with_409_and_exact_decimals(tmp_path, db_url):
    from tests.cleanroom.conftest import build_city
    from tests.conftest import make_runtime

    rt = make_runtime(tmp_path, db_url)
    city = build_city(rt, tmp_path, epsilon="0.3", default_epsilon="0.1")
    for i in range(3):
        ask(city, f'SELECT COUNT(*) FROM pay3 WHERE "年龄" > {i}')
    with pytest.raises(Conflict) as e:
        ask(city, 'SELECT COUNT(*) FROM pay3 WHERE "年龄" > 10')
    assert e.value.code == "budget_exhausted" and e.value.status == 409
    with rt.store.sessions() as s:
        assert gr.from_nano(s.get(Grant, _grant(city).id).epsilon_spent) == Decimal("0.3")
    rt.store.dispose()


def test_per_dataset_cap_holds_across_grants(tmp_path, sqlite_city):
    city = sqlite_city
    with city.rt.store.transaction() as s:
        from pdzone.audit.events import os_actor
        from pdzone.catalog.actions import find_dataset
        from pdzone.identity.models import Organization

        gr.do_set_cap(s, find_dataset(s, "pay3"), Decimal("1.5"), actor=os_actor())
        gr.do_add_scenario(s, zone_code="zone_a", code="second", name="第二场景", category="industry",
                           actor=os_actor())
        gr.do_add_grant(s, partner=s.get(Organization, city.partner_id), dataset_names=["pay3"],
                        scenario_code="second", epsilon=Decimal(10), default_epsilon=Decimal(1), actor=os_actor())
    ask(city, 'SELECT COUNT(*) FROM pay3 WHERE "年龄" > 1')
    with pytest.raises(Conflict) as e:  # a second grant adds no budget on the same dataset
        ask(city, 'SELECT COUNT(*) FROM pay3 WHERE "年龄" > 2', scenario="second")
    assert e.value.details["budget"] == "pay3"


def _review(city, sql, note="两个模板的分组互不嵌套，差分不出个人", scenario="research"):
    return service.preapprove(city.env(), city.secadmin, city.secadmin.actor(), _grant(city, scenario).id, sql,
                              risk_note=note)


def test_level_2_ad_hoc_queries_are_answered_with_dp(sqlite_city):
    r = ask(sqlite_city, 'SELECT "区", COUNT(*) AS n, SUM("金额") AS s FROM pay2 GROUP BY "区"', epsilon="0.5")
    rec = r["receipt"]
    assert rec["mechanism"] == "dp" and rec["epsilon_spent"] == "0.5" and "k" not in rec
    assert rec["budget"]["min_group_size"] == sqlite_city.rt.settings.cleanroom_min_group_level2
    assert sorted(n for _, n, _ in r["rows"]) != [300] * 4 or any(s_ != round(s_, 2) for _, _, s_ in r["rows"])


def test_level_2_reviewed_template_is_exact_and_drops_small_groups(sqlite_city):
    c = sqlite_city
    streets = 'SELECT "街道", COUNT(*) AS n FROM pay2 GROUP BY "街道"'
    _review(c, streets)
    r = ask(c, streets)
    # 街道0-9 hold ~40 people each; each 小巷 one person (< k = 10): only the streets come out, exact
    assert sorted(row[0] for row in r["rows"]) == [f"街道{i}" for i in range(10)]
    assert sum(n for _, n in r["rows"]) == 3 * 395
    assert r["receipt"]["mechanism"] == "threshold" and r["receipt"]["k"] == 10
    assert r["receipt"]["epsilon_spent"] == "0"
    by_district = 'SELECT "区", COUNT(*) AS n, SUM("金额") AS s FROM pay2 GROUP BY "区"'
    _review(c, by_district)
    r = ask(c, by_district)
    assert sorted(n for _, n, _ in r["rows"]) == [300] * 4 and r["receipt"]["epsilon_spent"] == "0"


def test_level_2_template_review_needs_a_risk_note_and_public_parameters(sqlite_city):
    c = sqlite_city
    with pytest.raises(Invalid) as e:
        _review(c, 'SELECT COUNT(*) AS n FROM pay2', note=" ")
    assert e.value.code == "risk_note_required"
    with pytest.raises(Forbidden) as e:   # 小巷399 is not a public value of 街道 (it names one person)
        _review(c, "SELECT COUNT(*) AS n FROM pay2 WHERE \"街道\" = '小巷399'")
    assert e.value.code == "template_parameter_not_public"
    with pytest.raises(Forbidden) as e:
        _review(c, "SELECT COUNT(*) AS n FROM pay2 WHERE \"区\" <> '东城区'")
    assert e.value.code == "template_parameter_not_public"
    with pytest.raises(Forbidden):   # only the security admin reviews
        service.preapprove(c.env(), c.analyst, c.analyst.actor(), _grant(c).id, 'SELECT COUNT(*) AS n FROM pay2',
                           risk_note="x")
    out = _review(c, "SELECT COUNT(*) AS n FROM pay2 WHERE \"区\" IN ('东城区', '西城区')")
    with c.rt.store.sessions() as s:
        listed = service.list_templates(s, c.secadmin, _grant(c).id)
        assert [t["template"] for t in listed] == [out["template"]]
        assert listed[0]["level"] == 2 and listed[0]["risk_note"] and listed[0]["approved_by"]
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "cleanroom.query.approve")).all()[-1]
        assert "risk_note" in ev.details
    r = ask(c, "SELECT COUNT(*) AS n FROM pay2 WHERE \"区\" IN ('东城区', '西城区')")
    assert r["rows"] == [[600]] and r["receipt"]["mechanism"] == "threshold"


def test_level_2_differencing_pair_is_no_longer_exact(sqlite_city):
    """Two ad-hoc queries whose cells differ by one person (everyone; everyone outside one street) gave
    that person's exact value by subtraction. At level 2 both are DP answers now."""
    c = sqlite_city
    everyone = ask(c, 'SELECT COUNT(*) AS n, SUM("金额") AS s FROM pay2', epsilon="1")
    but_one = ask(c, "SELECT COUNT(*) AS n, SUM(\"金额\") AS s FROM pay2 WHERE \"街道\" <> '小巷399'",
                  epsilon="1")
    assert everyone["receipt"]["mechanism"] == but_one["receipt"]["mechanism"] == "dp"
    t = people_table().to_pydict()
    person = sum(a for a, st in zip(t["金额"], t["街道"], strict=True) if st == "小巷399")
    assert abs((everyone["rows"][0][1] - but_one["rows"][0][1]) - person) > 1e-6   # the old exact pair gave it
    assert everyone["receipt"]["epsilon_spent"] == but_one["receipt"]["epsilon_spent"] == "1"


def test_level_2_filters_only_on_dimensions(sqlite_city):
    with pytest.raises(Forbidden) as e:
        ask(sqlite_city, 'SELECT COUNT(*) FROM pay2 WHERE "金额" > 99')
    assert e.value.code == "column_not_allowed_in_where"


def test_partition_selection_when_keys_are_not_public(sqlite_city):
    r = ask(sqlite_city, 'SELECT "类别", COUNT(*) AS n FROM pay3 GROUP BY "类别"')
    assert {row[0] for row in r["rows"]} <= {"门诊", "住院", "药店"}
    sel = r["receipt"]["budget"]["partition_selection"]
    assert sel["threshold"] >= 20 and 0 < sel["delta"] <= 1e-7
    assert "suppressed" not in str(r["receipt"])  # nothing exact about what was left out


def test_small_noisy_groups_are_suppressed_on_the_noisy_count(sqlite_city):
    r = ask(sqlite_city, 'SELECT "区", COUNT(*) AS n, AVG("金额") AS a FROM pay3 WHERE "年龄" = 20 GROUP BY "区"')
    # one person aged 20 (3 rows, in 东城区): every cell's noisy count is small: averages are withheld
    assert len(r["rows"]) == 4
    assert all(a is None for _, n, a in r["rows"] if n < 20)


def test_median_comes_from_the_public_grid(sqlite_city):
    r = ask(sqlite_city, 'SELECT MEDIAN("金额") AS med FROM pay3', epsilon="2")
    (med,), = r["rows"]
    grid = [100 * i / 31 for i in range(32)]
    assert any(abs(med - g) < 1e-9 for g in grid) and 20 <= med <= 80


def test_level_1_rows_are_masked_by_column_policies(sqlite_city):
    r = ask(sqlite_city, 'SELECT "人员编号", "区" FROM pay1 LIMIT 5', scenario="rows_scn")
    assert len(r["rows"]) == 5 and r["receipt"]["mechanism"] == "masked_rows"
    raw = set(people_table()["人员编号"].to_pylist())
    assert not any(row[0] in raw for row in r["rows"])  # the identifier never leaves as it is


def test_rows_need_level_1_and_a_rows_grant(sqlite_city):
    with pytest.raises(Forbidden) as e:
        ask(sqlite_city, 'SELECT "区" FROM pay3')
    assert e.value.code == "rows_not_allowed"
    with pytest.raises(Forbidden) as e:
        ask(sqlite_city, 'SELECT "区" FROM pay1')  # research grant: aggregates only
    assert e.value.code == "form_not_granted"


def test_level_4_is_held_until_the_security_admin_approves(city):
    env = city.env()
    held = ask(city, 'SELECT "区", COUNT(*) FROM pay4 GROUP BY "区"')
    assert held["status"] == "pending"
    assert ask(city, 'SELECT "区", COUNT(*) FROM pay4 GROUP BY "区"')["query_id"] == held["query_id"]  # one hold
    with city.rt.store.sessions() as s:
        assert [q["query_id"] for q in service.pending(s, city.secadmin)] == [held["query_id"]]
        assert service.pending(s, city.analyst) == []
    with pytest.raises(Forbidden):
        service.decide(env, city.analyst, city.analyst.actor(), held["query_id"], approve=True)
    service.decide(env, city.secadmin, city.secadmin.actor(), held["query_id"], approve=True, note="合规")
    r = ask(city, 'SELECT "区", COUNT(*) FROM pay4 GROUP BY "区"')
    assert len(r["rows"]) == 4 and r["receipt"]["level"] == 4 and r["receipt"]["budget"]["min_group_size"] == 50
    # the approval is bound to ε: another ε is another question
    assert ask(city, 'SELECT "区", COUNT(*) FROM pay4 GROUP BY "区"', epsilon="0.5")["status"] == "pending"


def test_dry_run_costs_nothing_and_reads_no_data(sqlite_city, monkeypatch):
    env = sqlite_city.env()

    def boom(*a, **k):
        raise AssertionError("a dry run read data")
    monkeypatch.setattr(env.engine, "execute", boom)
    out = service.dry_run(env, sqlite_city.analyst, sql=DP_SQL, scenario="research", epsilon="0.6")
    assert out["epsilon"] == "0.6" and out["mechanism"] == "dp" and out["would_charge"] == "0.6"
    assert [p["output"] for p in out["budget"]["parts"]] == ["n", "avg_amount", "avg_amount"]
    assert all(p["ci95"] > 0 for p in out["budget"]["parts"])
    assert out["sources"]["avg_amount"] == ["pay3.金额"]
    with sqlite_city.rt.store.sessions() as s:
        assert s.get(Grant, _grant(sqlite_city).id).epsilon_spent == 0


def test_refusals_name_the_reason(sqlite_city):
    cases = {
        "SELECT * FROM pay3": "select_star",
        'SELECT "人员编号", COUNT(*) FROM pay3 GROUP BY "人员编号"': "column_not_allowed_in_group",
        "SELECT COUNT(*) FROM read_csv('/etc/passwd')": "sql_not_allowed",
        "SELECT COUNT(*) FROM other_dataset": "dataset_not_granted",
        'SELECT SUM("金额" * 2) FROM pay3': "derived_argument",
        'SELECT MAX("金额") FROM pay3': "sql_not_allowed",
    }
    for sql, code in cases.items():
        with pytest.raises(Forbidden) as e:
            ask(sqlite_city, sql)
        assert e.value.code == code, sql
        assert e.value.zh and e.value.en
    with pytest.raises(BadRequest) as e:
        ask(sqlite_city, "SELEC COUNT(*) FROM pay3")
    assert e.value.code == "sql_syntax" and e.value.status == 400
    with pytest.raises(Forbidden) as e:
        ask(sqlite_city, "SELECT COUNT(*) FROM pay3", scenario="nope")
    assert e.value.code == "no_grant"
    with pytest.raises(Invalid) as e:
        ask(sqlite_city, "SELECT COUNT(*) FROM pay3", epsilon="NaN")
    assert e.value.code == "invalid_epsilon"
    with pytest.raises(Forbidden) as e:
        ask(sqlite_city, "SELECT COUNT(*) FROM pay3", epsilon="6")
    assert e.value.code == "epsilon_out_of_range"


def test_r28_flag_takes_a_granted_dataset_out_of_operation(sqlite_city):
    from pdzone.audit.events import os_actor
    from pdzone.catalog import actions as cat

    with sqlite_city.rt.store.transaction() as s:
        cat.do_flag_r28(s, cat.find_dataset(s, "pay3"), reason="law", note="法律规定", actor=os_actor())
    with pytest.raises(Forbidden) as e:
        ask(sqlite_city, "SELECT COUNT(*) FROM pay3")
    assert e.value.code == "dataset_not_granted"


def test_mock_comes_from_metadata_only(sqlite_city):
    with sqlite_city.rt.store.sessions() as s:
        from pdzone.catalog.actions import find_dataset

        m = mock.mock_rows(s, find_dataset(s, "pay3"), 200)
        again = mock.mock_rows(s, find_dataset(s, "pay3"), 200)
    assert m == again and m["synthetic"] is True and m["columns"] == ["人员编号", "区", "类别", "金额", "年龄", "街道"]
    real_ids = set(people_table()["人员编号"].to_pylist())
    assert not {r[0] for r in m["rows"]} & real_ids
    assert {r[1] for r in m["rows"]} <= set(DISTRICTS) and all(0 <= r[3] <= 100 for r in m["rows"])


def test_grant_rules(sqlite_city):
    from pdzone.audit.events import os_actor
    from pdzone.identity.models import Organization

    with sqlite_city.rt.store.transaction() as s:
        org = s.get(Organization, sqlite_city.partner_id)
        with pytest.raises(Invalid) as e:
            gr.do_add_grant(s, partner=org, dataset_names=["pay3"], scenario_code="research", epsilon=Decimal(1),
                            forms=["rows"], actor=os_actor())
        assert e.value.code == "rows_level"
        with pytest.raises(Invalid) as e:
            gr.do_add_grant(s, partner=org, dataset_names=["pay3"], scenario_code="research",
                            epsilon=Decimal("Infinity"), actor=os_actor())
        assert e.value.code == "invalid_epsilon"
        with pytest.raises(Invalid) as e:
            gr.do_add_scenario(s, zone_code="zone_a", code="Bad-Code", name="x", category="industry",
                               actor=os_actor())
        assert e.value.code == "invalid_scenario_code"


def test_level_2_data_without_a_privacy_unit_cannot_be_granted(sqlite_city, tmp_path):
    """The k threshold was silently skipped without a privacy-unit column while the receipt said
    `threshold, k=10`; such data is not granted at all now."""
    from pdzone.audit.events import os_actor
    from pdzone.identity.models import Organization
    from tests.cleanroom.conftest import PAY_COLUMNS, import_table

    c = sqlite_city
    import_table(c.rt, tmp_path, people_table(n_people=40), name="nounit2", zone="zone_a", provider=c.provider_org,
                 level=2, unit=None, columns=PAY_COLUMNS)
    with c.rt.store.transaction() as s:
        org = s.get(Organization, c.partner_id)
        with pytest.raises(Invalid) as e:
            gr.do_add_grant(s, partner=org, dataset_names=["pay1", "nounit2"], scenario_code="research",
                            epsilon=Decimal(1), actor=os_actor())
        assert e.value.code == "privacy_unit_required" and e.value.details["dataset"] == "nounit2"


def test_preapproved_template_runs_without_hold(sqlite_city):
    c = sqlite_city
    sql = 'SELECT "区", AVG("金额") AS a FROM pay4 GROUP BY "区"'
    with pytest.raises(Forbidden):
        service.preapprove(c.env(), c.analyst, c.analyst.actor(), _grant(c).id, sql)
    service.preapprove(c.env(), c.secadmin, c.secadmin.actor(), _grant(c).id, sql)
    r = ask(c, sql.lower().replace("avg", "AVG"), epsilon="0.5")  # the same template, any ε in range
    assert r["receipt"]["level"] == 4 and r["receipt"]["epsilon_spent"] == "0.5"
    assert ask(c, 'SELECT "区", COUNT(*) FROM pay4 GROUP BY "区"')["status"] == "pending"  # others still held


def test_no_path_skips_the_threshold_when_the_privacy_unit_is_gone(sqlite_city):
    """A granted level-2 dataset whose privacy-unit column was cleared afterwards is refused, not answered
    exactly under a receipt that claims `threshold, k=10`."""
    from pdzone.catalog.actions import find_dataset

    c = sqlite_city
    sql = 'SELECT "街道", COUNT(*) AS n FROM pay2 GROUP BY "街道"'
    _review(c, sql)
    with c.rt.store.transaction() as s:
        find_dataset(s, "pay2").privacy_unit = None
    with pytest.raises(Forbidden) as e:
        ask(c, sql)
    assert e.value.code == "privacy_unit_required"
