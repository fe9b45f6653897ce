"""`audit verify` and integration against someone who can write the database but holds no key store.

Each test is an attack found in the security review (issue 8, section 6) or a variant of it: a
forged event inserted as pending, a zeroed stored tree node, deleted checkpoints, a deleted or
altered review row, an emptied log on a populated platform, a backdated event.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from sqlalchemy import select, text

from pdzone.audit import log as alog
from pdzone.audit.actions import do_review
from pdzone.audit.events import Action, Actor, record
from pdzone.audit.models import AuditEvent
from pdzone.audit.verify import verify_store
from tests import factories as f

ALICE = Actor(name="user:alice", user_id=1, org_id=1, source_ip="10.1.2.3", request_id="r1")
AUDITOR = Actor(name="user:auditor", user_id=9, org_id=1)


def write(rt, n, **kw):
    with rt.store.transaction() as s:
        for i in range(n):
            record(s, actor=ALICE, action=Action.LOGIN, target_type="user", target_id=i, details={"i": i}, **kw)


def sql(rt, statement, **params):
    with rt.store.engine.begin() as c:
        return c.execute(text(statement), params)


@pytest.fixture
def logged(rt):
    """A log of 21 events under two checkpoints, all verified."""
    write(rt, 12)
    rt.maintain_log(force_checkpoint=True)
    write(rt, 9)
    rt.maintain_log(force_checkpoint=True)
    assert verify_store(rt.store).exit_code == 0
    return rt


def forge(rt, *, mac=None, occurred_at=None, copy_mac_of_seq=None):
    """Insert a pending event the way a database writer would: a copy of a genuine row, made to say
    something else, with a new id and no seq."""
    with rt.store.engine.begin() as c:
        row = dict(c.execute(text("select * from audit_events where seq = 3")).mappings().one())
        if copy_mac_of_seq is not None:
            mac = c.execute(text("select mac from audit_events where seq = :s"), {"s": copy_mac_of_seq}).scalar()
        row.pop("id")
        row.update(seq=None, mac=mac, action="identity.role.grant", details='{"role":"security_admin"}',
                   occurred_at=occurred_at or row["occurred_at"])
        cols = ", ".join(row)
        c.execute(text(f"insert into audit_events ({cols}) values ({', '.join(':' + k for k in row)})"), row)
        return c.execute(text("select max(id) from audit_events")).scalar()


@pytest.mark.parametrize("how", ["no_mac", "random_mac", "copied_mac"])
def test_forged_pending_event_is_refused_and_never_signed(logged, how):
    rt = logged
    backdated = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    forged = forge(rt, occurred_at=backdated, mac={"no_mac": None, "random_mac": os.urandom(32)}.get(how),
                   copy_mac_of_seq=3 if how == "copied_mac" else None)
    # verify catches it while still pending …
    res = verify_store(rt.store)
    assert res.exit_code == 1 and f"pending event id {forged}" in res.en
    write(rt, 2)  # genuine events after it
    rt.maintain_log(force_checkpoint=True)
    with rt.store.sessions() as s:
        ev = s.get(AuditEvent, forged)
        assert ev.seq is None and ev.refused_at is not None  # … integration refuses it …
        alert = s.scalars(select(AuditEvent).where(AuditEvent.action == Action.AUDIT_MAC_FAILURE)).one()
        assert alert.seq is not None and f'"event_id":{forged}' in alert.details
        # … the genuine events go on: 21 + 2 + the alert, dense
        assert sorted(s.scalars(select(AuditEvent.seq).where(AuditEvent.seq.is_not(None)))) == list(range(24))
        cp = alog.latest_checkpoint(s)
        assert cp.tree_size == 24
    res = verify_store(rt.store)  # … and verify keeps reporting the forgery
    assert res.exit_code == 1 and f"event id {forged}" in res.en and "refused" in res.en
    sql(rt, "delete from audit_events where id = :i", i=forged)  # removed after investigation
    assert verify_store(rt.store).exit_code == 0


def test_integrated_event_with_an_altered_mac_is_named_by_seq(logged):
    sql(logged, "update audit_events set mac = :m where seq = 5", m=os.urandom(32))
    res = verify_store(logged.store)
    assert (res.exit_code, res.first_bad_seq) == (1, 5)


def test_rewritten_event_is_refused_when_the_log_is_rebuilt(logged):
    """Even rebuilding the whole tree from altered rows does not launder them: re-integration refuses
    the row whose MAC no longer matches, and verify names it."""
    rt = logged
    sql(rt, "update audit_events set details = :d where seq = 5", d='{"i":99}')
    sql(rt, "delete from audit_nodes")
    sql(rt, "delete from audit_checkpoints")
    sql(rt, "update audit_events set seq = null")
    empty = "''" if rt.store.dialect == "sqlite" else "''::bytea"
    sql(rt, f"update audit_log_state set tree_size = 0, compact = {empty}, checkpoint_size = 0, checkpoint_count = 0")
    rt.maintain_log(force_checkpoint=True)
    res = verify_store(rt.store)
    assert res.exit_code == 1 and "refused" in res.en


def test_verify_without_the_key_store_says_macs_were_not_checked(logged):
    res = verify_store(logged.store, mac_key=None)
    assert res.exit_code == 0 and any("MAC" in n for n in res.notes)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_zeroed_tree_node_is_tampering(logged, level):
    rt = logged
    sql(rt, "update audit_nodes set hash = :z where level = :l and idx = 0", z=b"\0" * 32, l=level)
    res = verify_store(rt.store)
    assert res.exit_code == 1 and "node" in res.en


def test_deleted_tree_node_is_tampering(logged):
    sql(logged, "delete from audit_nodes where level = 1 and idx = 2")
    res = verify_store(logged.store)
    assert res.exit_code == 1 and "level 1" in res.en


@pytest.mark.parametrize("which", ["first", "latest", "all"])
def test_deleted_checkpoints_are_tampering(logged, which):
    rt = logged
    where = {"first": "tree_size = 12", "latest": "tree_size = 21", "all": "1 = 1"}[which]
    sql(rt, f"delete from audit_checkpoints where {where}")
    res = verify_store(rt.store)
    assert res.exit_code == 1 and "checkpoint" in res.en


def _reviewed(rt, verdict="concern"):
    with rt.store.transaction() as s:
        do_review(s, 4, verdict=verdict, comment="为何深夜授权？", actor=AUDITOR, visible_zones={None})


@pytest.mark.parametrize("integrated", [True, False])
def test_deleted_review_row_is_tampering(logged, integrated):
    rt = logged
    _reviewed(rt)
    if integrated:
        rt.maintain_log()
    assert verify_store(rt.store).exit_code == 0
    sql(rt, "delete from audit_reviews")
    res = verify_store(rt.store)
    assert res.exit_code == 1 and "review" in res.en and "deleted" in res.en


def test_altered_or_inserted_review_row_is_tampering(logged):
    rt = logged
    _reviewed(rt)
    rt.maintain_log()
    sql(rt, "update audit_reviews set verdict = 'ok'")
    assert verify_store(rt.store).exit_code == 1
    sql(rt, "update audit_reviews set verdict = 'concern'")
    assert verify_store(rt.store).exit_code == 0
    now = "'2026-12-01 00:00:00'" if rt.store.dialect == "sqlite" else "now()"
    sql(rt, "insert into audit_reviews (event_id, reviewer_user_id, reviewer, verdict, comment, reviewed_at) "
            f"values (5, 9, 'user:auditor', 'ok', 'looks fine', {now})")
    res = verify_store(rt.store)
    assert res.exit_code == 1 and "inserted" in res.en


def _empty_the_log(rt):
    for table in ("audit_reviews", "audit_cosignatures", "audit_checkpoints", "audit_keys", "audit_nodes",
                  "audit_events", "audit_log_state", "audit_denial_windows"):
        sql(rt, f"delete from {table}")


def test_emptied_log_on_a_populated_platform_cannot_verify(rt):
    with rt.store.transaction() as s:
        f.user(s, rt.vault, f.org(s), "somebody")
    rt.maintain_log(force_checkpoint=True)
    assert verify_store(rt.store).exit_code == 0
    _empty_the_log(rt)
    res = verify_store(rt.store)
    assert res.exit_code == 2 and "users" in res.en


def test_empty_log_on_an_empty_platform_is_intact(rt):
    assert verify_store(rt.store).exit_code == 0


def test_emptied_log_cli_exits_2(tmp_path, db_url):
    env = {**os.environ, "PDZONE_DATABASE_URL": db_url, "PDZONE_DATA_DIR": str(tmp_path / "data"),
           "PDZONE_KEYSTORE_PASSPHRASE": "cli-test"}

    def run(*args, stdin=None):
        return subprocess.run([sys.executable, "-m", "pdzone", *args], input=stdin, capture_output=True, text=True,
                              env=env, timeout=120)

    assert run("db", "upgrade").returncode == 0
    assert run("org", "add", "--name", "运营公司", "--kind", "operator", "--uscc", f.uscc_code()).returncode == 0
    assert run("audit", "verify").returncode == 0
    from pdzone.db import Store

    store = Store(db_url)
    with store.engine.begin() as c:
        for table in ("audit_checkpoints", "audit_keys", "audit_nodes", "audit_events", "audit_log_state"):
            c.execute(text(f"delete from {table}"))  # the organization stays
    store.dispose()
    r = run("audit", "verify", "--json")
    assert r.returncode == 2, r.stdout + r.stderr
    assert '"unverifiable"' in r.stdout and "organizations" in r.stdout


def test_backdated_event_is_reported(logged):
    rt = logged
    # a genuine write whose time runs backwards (a clock step, or a key holder backdating)
    with rt.store.transaction() as s:
        record(s, actor=ALICE, action=Action.LOGIN, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
    res = verify_store(rt.store)  # pending
    assert res.exit_code == 0 and res.warnings and "earlier" in res.warnings[0]
    rt.maintain_log()
    res = verify_store(rt.store)
    assert res.exit_code == 0 and "seq 21" in res.warnings[0]
    assert "warnings" in res.as_dict()
    # within the tolerance nothing is reported
    assert not verify_store(rt.store, clock_tolerance_s=4 * 86400).warnings
