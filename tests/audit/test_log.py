"""The operation log on both databases: integration, checkpoints, proofs, tamper detection."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select, text

from pdzone.audit import log as alog
from pdzone.audit import merkle
from pdzone.audit.events import Action, Actor, Outcome, record
from pdzone.audit.export import build_bundle
from pdzone.audit.models import AuditEvent
from pdzone.audit.verify import checkpoint_from_doc, verify_bundle, verify_store

ALICE = Actor(name="user:alice", user_id=1, org_id=1, source_ip="10.1.2.3", request_id="r1")


def write(rt, n, *, zone=None, action=Action.LOGIN):
    with rt.store.transaction() as s:
        for i in range(n):
            record(s, actor=ALICE, action=action, target_type="user", target_id=i, zone=zone,
                   details={"i": i, "名": "值"})


def seqs(rt):
    with rt.store.engine.connect() as c:
        return [r[0] for r in c.execute(text("select seq from audit_events order by id"))]


def test_events_get_consecutive_seq_after_commit_and_rollback_leaves_no_hole(rt):
    write(rt, 3)
    with pytest.raises(RuntimeError), rt.store.transaction() as s:
        record(s, actor=ALICE, action=Action.LOGIN)
        s.flush()
        raise RuntimeError("the change failed")
    write(rt, 2)
    assert seqs(rt) == [None] * 5  # known by id until integrated
    assert alog.integrate(rt.store, rt.log_suite) == 5
    assert seqs(rt) == [0, 1, 2, 3, 4]
    assert verify_store(rt.store).exit_code == 0


def test_checkpoint_is_signed_and_proofs_verify(rt):
    write(rt, 13)
    n, cp = rt.maintain_log(force_checkpoint=True)
    assert n == 13 and cp.tree_size == 13
    suite = rt.log_suite
    h = alog.hasher(suite)
    with rt.store.sessions() as s:
        doc = alog.checkpoint_document(s, alog.latest_checkpoint(s))
        for seq in (0, 6, 12):
            p = alog.inclusion_proof(s, suite, seq, 13)
            assert merkle.verify_inclusion(h, seq, 13, bytes.fromhex(p["leaf_hash"]),
                                           [bytes.fromhex(x) for x in p["proof"]], bytes.fromhex(doc["root_hash"]))
    write(rt, 5)
    rt.maintain_log(force_checkpoint=True)
    with rt.store.sessions() as s:
        c = alog.consistency_proof(s, suite, 13, 18)
    assert c["first_root"] == doc["root_hash"]
    assert merkle.verify_consistency(h, 13, 18, bytes.fromhex(c["first_root"]), bytes.fromhex(c["second_root"]),
                                     [bytes.fromhex(x) for x in c["proof"]])
    cp_in = checkpoint_from_doc(doc, label="held")
    assert cp_in.public.verify(cp_in.signature, cp_in.body.encode())
    assert not cp_in.public.verify(cp_in.signature, cp_in.body.replace("size: 13", "size: 12").encode())


def test_checkpoints_issue_every_n_events(tmp_path, db_url):
    from tests.conftest import make_runtime

    rt = make_runtime(tmp_path, db_url, checkpoint_every_events=10, checkpoint_every_s=3600)
    write(rt, 9)
    assert rt.maintain_log()[1] is None
    write(rt, 1)
    assert rt.maintain_log()[1].tree_size == 10
    rt.store.dispose()


def _tamper(rt, sql):
    with rt.store.engine.begin() as c:
        c.execute(text(sql))


@pytest.fixture
def logged(rt):
    write(rt, 20, zone="zone_a")
    rt.maintain_log(force_checkpoint=True)
    write(rt, 5, zone="zone_b")
    rt.maintain_log(force_checkpoint=True)
    assert verify_store(rt.store).exit_code == 0
    return rt


def test_altered_row_is_caught_with_its_seq(logged):
    _tamper(logged, "update audit_events set outcome = 'denied' where seq = 7")
    res = verify_store(logged.store)
    assert (res.exit_code, res.first_bad_seq) == (1, 7)


def test_deleted_row_is_caught(logged):
    _tamper(logged, "delete from audit_events where seq = 11")
    res = verify_store(logged.store)
    assert (res.exit_code, res.first_bad_seq) == (1, 11)


def test_deleted_last_row_is_caught(logged):
    _tamper(logged, "delete from audit_events where seq = 24")
    res = verify_store(logged.store)
    assert (res.exit_code, res.first_bad_seq) == (1, 24)


def test_inserted_row_is_caught(logged):
    with logged.store.engine.begin() as c:
        row = dict(c.execute(text("select * from audit_events where seq = 3")).mappings().one())
        row.pop("id")
        row["seq"] = 25
        cols = ", ".join(row)
        c.execute(text(f"insert into audit_events ({cols}) values ({', '.join(':' + k for k in row)})"), row)
    res = verify_store(logged.store)
    assert (res.exit_code, res.first_bad_seq) == (1, 25)


def test_two_rows_swapping_contents_is_caught(logged):
    with logged.store.engine.begin() as c:
        a = c.execute(text("select id, details, target_id from audit_events where seq = 4")).one()
        b = c.execute(text("select id, details, target_id from audit_events where seq = 9")).one()
        c.execute(text("update audit_events set details=:d, target_id=:t where id=:i"),
                  {"d": b.details, "t": b.target_id, "i": a.id})
        c.execute(text("update audit_events set details=:d, target_id=:t where id=:i"),
                  {"d": a.details, "t": a.target_id, "i": b.id})
    res = verify_store(logged.store)
    assert (res.exit_code, res.first_bad_seq) == (1, 4)


def remac(rt, seq):
    """What only someone holding the key store can do: give an altered row a valid MAC again."""
    from pdzone.audit.encoding import mac_bytes_from_row
    from pdzone.audit.events import MAC_KEY_NAME

    key = rt.keystore.mac_key(MAC_KEY_NAME)
    with rt.store.engine.begin() as c:
        row = c.execute(select(*alog.EVENT_COLUMNS).where(AuditEvent.seq == seq)).one()
        c.execute(text("update audit_events set mac = :m where id = :i"),
                  {"m": rt.log_suite.hmac(key, mac_bytes_from_row(row)), "i": row[0]})


def test_rewrite_resigned_with_platform_key_is_caught_only_by_outside_checkpoint(logged):
    rt = logged
    with rt.store.sessions() as s:
        held = alog.checkpoint_document(s, alog.latest_checkpoint(s))  # the supervisor keeps this
    # An attacker with the database and the whole key store (signing and MAC keys) rewrites event 2,
    # gives it a valid MAC, rebuilds the tree and re-signs.
    _tamper(rt, "update audit_events set outcome = 'success', details = '{}' where seq = 2")
    remac(rt, 2)
    _tamper(rt, "delete from audit_nodes")
    _tamper(rt, "delete from audit_checkpoints")
    _tamper(rt, "update audit_events set seq = null")
    _tamper(rt, "update audit_log_state set tree_size = 0, compact = :e, checkpoint_size = 0, checkpoint_count = 0"
            .replace(":e", "''") if rt.store.dialect == "sqlite" else
            "update audit_log_state set tree_size = 0, compact = ''::bytea, checkpoint_size = 0, checkpoint_count = 0")
    rt.maintain_log(force_checkpoint=True)
    assert verify_store(rt.store).exit_code == 0  # self-consistent again…
    res = verify_store(rt.store, outside=checkpoint_from_doc(held, label="held checkpoint"))
    assert res.exit_code == 1  # …but not with what the supervisor holds
    assert "held checkpoint" in res.en


def test_outside_checkpoint_with_a_forged_signature_cannot_verify(logged):
    with logged.store.sessions() as s:
        doc = alog.checkpoint_document(s, alog.latest_checkpoint(s))
    doc["body"] = doc["body"].replace(f"size: {doc['tree_size']}", "size: 3")
    res = verify_store(logged.store, outside=checkpoint_from_doc(doc, label="x"))
    assert res.exit_code == 2


def test_bundle_verifies_offline_and_zone_bundle_hides_other_zones(logged):
    with logged.store.sessions() as s:
        whole = build_bundle(s)
        zone_b = build_bundle(s, zone="zone_b")
    assert verify_bundle(json.loads(json.dumps(whole))).exit_code == 0
    assert verify_bundle(json.loads(json.dumps(zone_b))).exit_code == 0
    full = [e for e in zone_b["events"] if "action" in e]
    assert len(full) == 5 and all(e["zone"] == "zone_b" for e in full)
    assert "zone_a" not in json.dumps(zone_b["events"])
    forged = json.loads(json.dumps(zone_b))
    next(e for e in forged["events"] if "action" in e)["outcome"] = "denied"
    assert verify_bundle(forged).exit_code == 1


def test_denied_outcome_is_recorded(rt):
    with rt.store.transaction() as s:
        record(s, actor=ALICE, action=Action.ACCESS, outcome=Outcome.DENIED, details={"reason": "x"})
    with rt.store.sessions() as s:
        ev = s.query(AuditEvent).one()
    assert ev.outcome == "denied" and ev.actor == "user:alice" and ev.source_ip == "10.1.2.3"


def test_concurrent_writers_and_integrators_leave_no_gap(rt):
    """Writers commit and roll back in parallel while integrators run; positions stay dense."""
    errors = []

    def writer(k):
        try:
            for i in range(15):
                try:
                    with rt.store.transaction() as s:
                        record(s, actor=ALICE, action=Action.LOGIN, details={"w": k, "i": i})
                        s.flush()
                        if i % 5 == 4:
                            raise ValueError("roll back")
                except ValueError:
                    pass
                if i % 4 == 0:
                    alog.integrate(rt.store, rt.log_suite)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    alog.integrate(rt.store, rt.log_suite)
    assert sorted(seqs(rt)) == list(range(6 * 12))
    rt.maintain_log(force_checkpoint=True)
    assert verify_store(rt.store).exit_code == 0


def test_unreachable_database_cannot_verify(tmp_path):
    from pdzone.db import Store

    res = verify_store(Store("postgresql://nobody@127.0.0.1:1/none"))
    assert res.exit_code == 2


def test_database_admin_cannot_forge_with_their_own_key(logged):
    """Without the key store, a rewrite re-signed with a key slipped into audit_keys is caught."""
    from pdzone.audit.models import AuditKey
    from pdzone.crypto import get_suite

    rt = logged
    trusted = rt.trusted_platform_keys()
    assert trusted and verify_store(rt.store, trusted_keys=trusted).exit_code == 0
    mallory = get_suite("gm").generate_private_key()
    _tamper(rt, "update audit_events set outcome = 'success', details = '{}' where seq = 2")
    for sql in ("delete from audit_nodes", "delete from audit_checkpoints", "update audit_events set seq = null",
                "delete from audit_log_state"):
        _tamper(rt, sql)
    alog.integrate(rt.store, rt.log_suite)
    alog.issue_checkpoint(rt.store, rt.log_suite, mallory, origin="pdzone", force=True)
    with rt.store.sessions() as s:
        assert s.get(AuditKey, mallory.public().key_id).role == "platform"
    res = verify_store(rt.store, trusted_keys=trusted)
    assert res.exit_code == 1 and "not the platform's" in res.en


def test_deleting_the_state_row_does_not_make_the_log_look_empty(logged):
    _tamper(logged, "delete from audit_log_state")
    res = verify_store(logged.store)
    assert res.exit_code == 1


def test_forced_checkpoint_is_not_repeated_for_the_same_size(rt):
    write(rt, 4)
    assert rt.maintain_log(force_checkpoint=True)[1].tree_size == 4
    assert rt.maintain_log(force_checkpoint=True)[1] is None


def test_altered_countersignature_is_caught(logged):
    from pdzone.audit.actions import do_cosign, do_register_witness_key
    from pdzone.crypto import get_suite

    witness = get_suite("gm").generate_private_key()
    sup = Actor(name="user:sup", user_id=42)
    with logged.store.sessions() as s:
        cp = alog.latest_checkpoint(s)
    with logged.store.transaction() as s:
        do_register_witness_key(s, public_pem=witness.public().pem.decode(), suite="gm", actor=sup)
        do_cosign(s, cp.id, key_id=witness.public().key_id, signature_hex=witness.sign(cp.body.encode()).hex(),
                  actor=sup)
    logged.maintain_log()
    assert verify_store(logged.store).exit_code == 0
    _tamper(logged, f"update audit_cosignatures set checkpoint_id = {cp.id - 1}")
    assert verify_store(logged.store).exit_code == 1


# --- denial aggregation ----------------------------------------------------------------------

FUZZER = Actor(name="token:77", user_id=7, org_id=1, source_ip="203.0.113.9")


def _deny(rt, actor=FUZZER, action="GET /api/v1/datasets/x", reason="forbidden", rollback=False):
    from pdzone.identity.actions import record_denied

    try:
        with rt.store.transaction() as s:
            record_denied(s, actor=actor, action=action, reason=reason)
            if rollback:
                raise ValueError("roll back")
    except ValueError:
        pass


def _denials(rt):
    """(rows of denied events, the total number of denials they stand for)."""
    from pdzone.audit import queries as aq

    with rt.store.sessions() as s:
        evs = s.scalars(select(AuditEvent).where(AuditEvent.outcome == "denied",
                                                 AuditEvent.action != Action.AUDIT_DENIALS)).all()
        counts = aq.denial_counts(s, [e.id for e in evs])
    return evs, sum(counts.get(e.id, 1) for e in evs)


@pytest.fixture
def windowed(tmp_path, db_url):
    from tests.conftest import make_runtime

    rt = make_runtime(tmp_path, db_url, audit_denial_window_s=3600)
    yield rt
    rt.store.dispose()


def test_200_denials_in_a_window_are_a_few_rows_with_the_right_count(windowed):
    rt = windowed
    for i in range(200):
        _deny(rt, action=f"GET /api/v1/datasets/probe-{i}")  # a fuzzer varying the path
    evs, total = _denials(rt)
    assert total == 200 and len(evs) <= 2  # two only if an hour boundary fell inside the loop
    with rt.store.engine.connect() as c:
        assert c.execute(text("select count(*) from audit_events")).scalar() <= 2
    _deny(rt, rollback=True)  # a rolled-back denial is not counted
    assert _denials(rt)[1] == 200


def test_denials_of_other_callers_actions_or_reasons_are_counted_apart(windowed):
    rt = windowed
    for _ in range(3):
        _deny(rt)
        _deny(rt, actor=Actor(name="token:78", source_ip="203.0.113.9"))
        _deny(rt, action="POST /api/v1/grants")
        _deny(rt, reason="separation_of_duties")
    evs, total = _denials(rt)
    assert total == 12 and len(evs) == 4


def test_anonymous_callers_are_counted_by_address(windowed):
    for i in range(20):
        _deny(windowed, actor=Actor(name=f"anonymous:guess{i}", source_ip="198.51.100.1"),
              action=Action.LOGIN, reason="bad_credentials")
    evs, total = _denials(windowed)
    assert total == 20 and len(evs) <= 2


def test_closed_window_is_summarised_once_into_the_log(windowed):
    import datetime as dt

    from pdzone.audit import queries as aq
    from pdzone.db import utcnow

    rt = windowed
    for _ in range(30):
        _deny(rt)
    assert alog.summarize_denials(rt.store) == 0  # still open
    later = utcnow() + dt.timedelta(hours=2)
    assert alog.summarize_denials(rt.store, now=later) == 1
    assert alog.summarize_denials(rt.store, now=later) == 0  # closed once
    rt.maintain_log(force_checkpoint=True)
    with rt.store.sessions() as s:
        summary = s.scalars(select(AuditEvent).where(AuditEvent.action == Action.AUDIT_DENIALS)).one()
        first = s.scalars(select(AuditEvent).where(AuditEvent.outcome == "denied",
                                                   AuditEvent.action != Action.AUDIT_DENIALS)).first()
        doc = aq.event_json(first, [], aq.denial_windows(s, [first.id]).get(first.id))
    d = json.loads(summary.details)
    assert summary.seq is not None and d["count"] == 30 and d["first_event_id"] == first.id
    assert doc["denials"]["count"] == 30 and doc["denials"]["closed"]  # what the API shows
    assert verify_store(rt.store).exit_code == 0
    _deny(rt)  # a new window after the summary starts afresh
    assert _denials(rt)[1] == 31


def test_parallel_denials_lose_no_count(windowed):
    rt = windowed
    errors = []

    def fuzz(k):
        try:
            for i in range(25):
                _deny(rt, action=f"DELETE /api/v1/users/u{k}-{i}")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=fuzz, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    evs, total = _denials(rt)
    assert total == 200 and len(evs) <= 2
    rt.maintain_log(force_checkpoint=True)
    assert verify_store(rt.store).exit_code == 0


def test_a_zero_window_writes_every_denial(tmp_path, db_url):
    from tests.conftest import make_runtime

    rt = make_runtime(tmp_path, db_url, audit_denial_window_s=0)
    for _ in range(5):
        _deny(rt)
    assert len(_denials(rt)[0]) == 5
    rt.store.dispose()
