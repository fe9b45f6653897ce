"""Decisions and proposals in the catalog, on both databases: what relaxes protection, who decides it, the
one-pending rule, and the CLI's shell authority. (The defects through the API as the demo's roles are in
tests/web/test_decisions_api.py.)"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from pdzone.audit.events import Actor, os_actor
from pdzone.audit.models import AuditEvent
from pdzone.catalog import actions as cat
from pdzone.catalog.models import Proposal
from pdzone.catalog.queries import dataset_json, proposed_level
from pdzone.config import reset_settings
from pdzone.egress.gate import effective_level, policies_for
from pdzone.errors import Conflict, Forbidden, Invalid
from tests.catalog.test_catalog import _import, write_csv, zone_setup  # noqa: F401  (fixture)

STAFF = Actor(name="user:staff", user_id=41)
PROVIDER = Actor(name="user:provider", user_id=42)


def _scanned(rt, tmp_path, **kw):
    """The `people` dataset (name, ID number, mobile, amount, date), scanned, roles declared by the shell."""
    _import(rt, write_csv(tmp_path / "d.csv"), **kw)
    with rt.store.transaction() as s:
        ds = cat.find_dataset(s, "people")
        cat.do_scan(s, rt.keystore, rt.suite, rt.datasets, ds, actor=os_actor())
        for col, role in (("姓名", "identifier"), ("身份证号", "identifier"), ("金额", "measure")):
            cat.do_set_column(s, ds, col, actor=os_actor(), role=role, basis="初始")
        cat.do_set_column(s, ds, "金额", actor=os_actor(), bounds=(0, 100), basis="政策")


def _col(rt, column):
    with rt.store.sessions() as s:
        return next(c for c in dataset_json(s, cat.find_dataset(s, "people"))["columns"] if c["name"] == column)


def _staff(rt, column, **change):
    proposed: list = []
    with rt.store.transaction() as s:
        ds = cat.find_dataset(s, "people")
        cat.do_set_column(s, ds, column, actor=STAFF, decides=False, proposed=proposed, **change)
        return [(p.field, json.loads(p.value)) for p in proposed]


@pytest.mark.parametrize("column,change,relaxes", [
    ("姓名", {"role": "dimension"}, True),           # a detected person's name: only identifier is not a decision
    ("身份证号", {"role": "join_key"}, True),        # a detected ID number
    ("日期", {"role": "dimension"}, False),          # no detected identifier, no role yet
    ("金额", {"role": "identifier"}, False),         # tightening
    ("金额", {"bounds": (10, 90)}, False),           # narrower
    ("金额", {"bounds": (0, 1000)}, True),           # wider
    ("日期", {"bounds": (0, 1)}, True),              # new bounds
    ("日期", {"public_values": ["2024-01"]}, True),  # new public values
    ("姓名", {"mask_policy": {"op": "redact"}}, False),
    ("姓名", {"mask_policy": {"op": "pseudonym"}}, True),
    ("金额", {"mask_policy": {"op": "keep", "released": True}}, True),
])
def test_what_relaxes_protection_waits_and_what_tightens_applies(rt, zone_setup, tmp_path, column, change,  # noqa: F811
                                                                 relaxes):
    _scanned(rt, tmp_path, level=3, basis="三级")
    before = _col(rt, column)
    proposed = _staff(rt, column, **change)
    after = _col(rt, column)
    key = next(iter(change))
    if relaxes:
        assert [f for f, _ in proposed] == [key] and after == before  # nothing in force
    else:
        assert proposed == [] and after != before


def test_identifier_to_dimension_and_back(rt, zone_setup, tmp_path):  # noqa: F811
    _scanned(rt, tmp_path, level=1, basis="一级")
    assert _staff(rt, "金额", role="identifier") == []
    assert _staff(rt, "金额", role="measure") == [("role", "measure")]  # leaving identifier is a decision
    assert _col(rt, "金额")["role"] == "identifier"


def test_levels_at_import_and_after(rt, zone_setup, tmp_path):  # noqa: F811
    # staff (any actor without shell authority) at import: a proposal, counted as level 4
    _import(rt, write_csv(tmp_path / "d.csv"), level=1, basis="一级", decides=False)
    with rt.store.sessions() as s:
        ds = cat.find_dataset(s, "people")
        assert (ds.level, proposed_level(s, ds), effective_level(ds)) == (None, 1, 4)
        assert {p.op for p in policies_for(s, ds)[1].values()} >= {"redact"}  # masked as level 4
    # the shell's --level is a decision, recorded as the OS user's
    _import(rt, write_csv(tmp_path / "e.csv"), name="people2", level=1, basis="一级")
    with rt.store.sessions() as s:
        ds = cat.find_dataset(s, "people2")
        assert ds.level == 1 and ds.level_set_by.startswith("os:") and proposed_level(s, ds) is None
    # staff raise a confirmed level at once, never lower it, never confirm an unconfirmed one
    with rt.store.transaction() as s:
        ds = cat.find_dataset(s, "people2")
        cat.do_set_level(s, ds, level=2, basis="提升", actor=STAFF, decides=False)
        assert ds.level == 2
        proposed: list = []
        cat.do_set_level(s, ds, level=1, basis="降回", actor=STAFF, decides=False, proposed=proposed)
        assert ds.level == 2 and [p.field for p in proposed] == ["level"]
        people = cat.find_dataset(s, "people")
        with pytest.raises(Conflict):
            cat.do_set_level(s, people, level=4, basis="确认", actor=STAFF, decides=False)  # one is pending
    # a direct decision settles the waiting proposal: accepted when it asked for the decided value
    with rt.store.transaction() as s:
        cat.do_set_level(s, cat.find_dataset(s, "people"), level=1, basis="核对后确认", actor=PROVIDER, decides=True)
    with rt.store.sessions() as s:
        [p] = s.scalars(select(Proposal).where(Proposal.field == "level", Proposal.column == "")
                        .order_by(Proposal.id).limit(1)).all()
        assert (p.state, p.decided_by, p.basis) == ("accepted", "user:provider", "核对后确认")


def test_decisions_are_once_with_a_basis_and_never_the_proposers(rt, zone_setup, tmp_path):  # noqa: F811
    _scanned(rt, tmp_path, level=3, basis="三级")
    _staff(rt, "姓名", role="dimension", basis="统计")
    with rt.store.sessions() as s:
        pid = s.scalar(select(Proposal.id))
    with rt.store.transaction() as s:
        ds = cat.find_dataset(s, "people")
        with pytest.raises(Invalid) as e:
            cat.do_decide_proposal(s, ds, pid, accept=True, basis=" ", actor=PROVIDER)
        assert e.value.code == "basis_required"
        with pytest.raises(Forbidden) as e:
            cat.do_decide_proposal(s, ds, pid, accept=True, basis="自己批", actor=STAFF)
        assert e.value.code == "own_proposal"
    with rt.store.transaction() as s:
        cat.do_decide_proposal(s, cat.find_dataset(s, "people"), pid, accept=False, basis="直接标识符",
                               actor=PROVIDER)
    with rt.store.transaction() as s, pytest.raises(Conflict) as e:
        cat.do_decide_proposal(s, cat.find_dataset(s, "people"), pid, accept=True, basis="再批", actor=PROVIDER)
    assert e.value.code == "proposal_decided" and _col(rt, "姓名")["role"] == "identifier"
    # a decider relaxing directly still gives a basis
    with rt.store.transaction() as s, pytest.raises(Invalid) as e:
        cat.do_set_column(s, cat.find_dataset(s, "people"), "姓名", role="dimension", actor=PROVIDER, decides=True)
    assert e.value.code == "basis_required"
    with rt.store.sessions() as s:
        acts = s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("catalog.proposal.%"))).all()
    assert acts == ["catalog.proposal.create", "catalog.proposal.reject"]


def test_one_pending_proposal_per_field_under_40_parallel_proposers(rt, zone_setup, tmp_path):  # noqa: F811
    _scanned(rt, tmp_path, level=3, basis="三级")
    start = threading.Barrier(40)

    def propose(i: int) -> str:
        start.wait()
        try:
            with rt.store.transaction() as s:
                cat.do_set_column(s, cat.find_dataset(s, "people"), "姓名", role="dimension", basis=f"#{i}",
                                  actor=Actor(name=f"user:staff{i}", user_id=100 + i), decides=False)
            return "proposed"
        except Conflict as e:
            return e.code

    with ThreadPoolExecutor(40) as pool:
        outcomes = list(pool.map(propose, range(40)))
    assert sorted(outcomes) == ["proposal_pending"] * 39 + ["proposed"]
    with rt.store.sessions() as s:
        assert len(s.scalars(select(Proposal)).all()) == 1
        assert len(s.scalars(select(AuditEvent).where(AuditEvent.action == "catalog.proposal.create")).all()) == 1


def test_the_cli_lists_and_decides_proposals_as_the_os_user(rt, zone_setup, tmp_path, monkeypatch):  # noqa: F811
    from pdzone.cli import app

    _scanned(rt, tmp_path, level=3, basis="三级")
    _staff(rt, "姓名", role="dimension", basis="统计")
    s = rt.settings
    for k, v in {"PDZONE_DATA_DIR": str(s.data_dir), "PDZONE_DATABASE_URL": s.database_url,
                 "PDZONE_CRYPTO_SUITE": s.crypto_suite, "PDZONE_KEYSTORE_PASSPHRASE": s.keystore_passphrase}.items():
        monkeypatch.setenv(k, v)
    reset_settings()
    try:
        runner = CliRunner()
        r = runner.invoke(app, ["dataset", "proposals", "people", "--json"])
        assert r.exit_code == 0, r.output
        [p] = json.loads(r.stdout)
        assert (p["column"], p["field"], p["value"], p["state"]) == ("姓名", "role", "dimension", "pending")
        r = runner.invoke(app, ["dataset", "decide", "people", str(p["id"]), "--accept", "--basis", "评估后同意"])
        assert r.exit_code == 0, r.output
        assert _col(rt, "姓名")["role"] == "dimension"
        r = runner.invoke(app, ["dataset", "decide", "people", str(p["id"]), "--reject", "--basis", "改主意"])
        assert r.exit_code == 1 and "proposal_decided" in r.output
        with rt.store.sessions() as ses:
            assert ses.get(Proposal, p["id"]).decided_by.startswith("os:")
    finally:
        reset_settings()
