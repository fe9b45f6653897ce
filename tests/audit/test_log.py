"""The operation log on both databases: integration, checkpoints, proofs, tamper detection."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import text

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


def test_rewrite_resigned_with_platform_key_is_caught_only_by_outside_checkpoint(logged):
    rt = logged
    with rt.store.sessions() as s:
        held = alog.checkpoint_document(s, alog.latest_checkpoint(s))  # the supervisor keeps this
    # An attacker with the database and the platform key rewrites event 2, rebuilds the tree and re-signs.
    _tamper(rt, "update audit_events set outcome = 'success', details = '{}' where seq = 2")
    _tamper(rt, "delete from audit_nodes")
    _tamper(rt, "delete from audit_checkpoints")
    _tamper(rt, "update audit_events set seq = null")
    _tamper(rt, "update audit_log_state set tree_size = 0, compact = :e, checkpoint_size = 0".replace(":e", "''")
            if rt.store.dialect == "sqlite" else
            "update audit_log_state set tree_size = 0, compact = ''::bytea, checkpoint_size = 0")
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
