"""The Merkle log: integration after commit, signed checkpoints, proofs.

Events are written by many transactions at once; a transaction that rolls back must not leave
a gap that looks like a deletion. So, as transparency logs do (Tessera), positions are handed
out after commit: `integrate` locks the single log-state row, takes committed events that have
no `seq` yet in id order, gives them consecutive positions, stores the new tree nodes and the
new right edge, and commits. Until then an event is known by its id.

Integration checks each event's MAC first. A row without a valid one (written into the database
by anything but `record`) is refused: it gets no `seq`, its `refused_at` is set, an
`audit.log.mac_failure` event is recorded, and integration goes on with the genuine events, so a
forged row can neither enter a signed checkpoint nor stop the log.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pdzone.audit import merkle
from pdzone.audit.encoding import fmt_time, leaf_bytes_from_row, mac_bytes_from_row
from pdzone.audit.events import SYSTEM, Action, Outcome, config_of, mac_function, record
from pdzone.audit.models import AuditEvent, AuditKey, AuditLogState, AuditNode, Checkpoint, DenialWindow
from pdzone.crypto import CryptoSuite, PrivateKey, PublicKey, get_suite
from pdzone.db import Store, utcnow
from pdzone.errors import Invalid, NotFound

EVENT_COLUMNS = [getattr(AuditEvent, f) for f in (
    "id", "seq", "occurred_at", "actor", "actor_user_id", "actor_org_id", "token_id", "zone",
    "action", "target_type", "target_id", "outcome", "source_ip", "request_id", "details", "mac")]


def hasher(suite: CryptoSuite):
    f = suite.hash_factory()
    return lambda b: f(b).digest()


def _state(session: Session, suite: CryptoSuite, *, lock: bool) -> AuditLogState:
    locked = False
    if lock:
        # A no-op UPDATE takes the write lock on SQLite and the row lock on PostgreSQL alike.
        locked = session.execute(update(AuditLogState).where(AuditLogState.id == 1)
                                 .values(tree_size=AuditLogState.tree_size)).rowcount == 1
    st = session.get(AuditLogState, 1, populate_existing=True)
    if st is None or (lock and not locked):
        if st is None:
            try:  # the first integrator creates the row; a concurrent one loses the race and re-reads it
                with session.begin_nested():
                    session.add(AuditLogState(id=1, suite=suite.name, tree_size=0, compact=b"", checkpoint_size=0,
                                              checkpoint_count=0, checkpoint_at=utcnow()))
            except IntegrityError:
                pass
        return _state(session, suite, lock=lock)
    if st.suite != suite.name:
        raise Invalid("操作日志使用另一密码套件建立，不能切换", f"the log was built with suite {st.suite}",
                      code="audit_suite_mismatch")
    return st


def _split_hashes(blob: bytes, width: int) -> list[bytes]:
    return [blob[i:i + width] for i in range(0, len(blob), width)]


def mac_problem(mac_fn, row) -> str | None:
    """Why a row's MAC fails (`missing MAC`, `MAC does not verify`), or None when it is genuine.
    `mac_fn` is events.mac_function(log suite, key)."""
    mac = row[15]
    if mac is None:
        return "missing MAC"
    if not hmac.compare_digest(bytes(mac), mac_fn(mac_bytes_from_row(row))):
        return "MAC does not verify"
    return None


def integrate(store: Store, suite: CryptoSuite, *, batch: int = 5000) -> int:
    """Give committed, not yet integrated events their positions. Returns how many.

    Rows whose MAC fails are refused (see the module's docstring); they are not counted.
    """
    cfg = config_of(store)
    if cfg is None:
        raise RuntimeError("the store has no operation-log configuration (audit.events.configure)")
    mac_fn = mac_function(suite.name, cfg.key())
    h = hasher(suite)
    width = len(h(b""))
    total = 0
    while True:
        with store.transaction() as s:
            st = _state(s, suite, lock=True)
            rows = s.execute(select(*EVENT_COLUMNS).where(AuditEvent.seq.is_(None), AuditEvent.refused_at.is_(None))
                             .order_by(AuditEvent.id).limit(batch)).all()
            if not rows:
                return total
            cr = merkle.CompactRange(h, st.tree_size, _split_hashes(st.compact, width))
            seqs, nodes, refused = [], [], []
            for row in rows:
                problem = mac_problem(mac_fn, row)
                if problem is not None:
                    refused.append((row, problem))
                    continue
                seq = cr.size
                leaf = h(b"\x00" + leaf_bytes_from_row((row[0], seq, *row[2:])))
                nodes.extend({"level": lv, "idx": ix, "hash": hh} for lv, ix, hh in cr.append(leaf))
                seqs.append({"eid": row[0], "new_seq": seq})
            if seqs:
                _assign_seqs(s, seqs)
                s.execute(AuditNode.__table__.insert(), nodes)
            if refused:
                _refuse(s, refused)
            st.tree_size = cr.size
            st.compact = b"".join(cr.hashes)
            total += len(seqs)
        if len(rows) < batch and not refused:
            return total


def _refuse(session: Session, refused: list) -> None:
    """Mark forged rows refused and raise an alert event for each (the alert is itself MACed)."""
    now = utcnow()
    t = AuditEvent.__table__
    session.execute(update(t).where(t.c.id == bindparam("eid")).values(refused_at=bindparam("at")),
                    [{"eid": row[0], "at": now} for row, _ in refused])
    for row, problem in refused:
        record(session, actor=SYSTEM, action=Action.AUDIT_MAC_FAILURE, outcome=Outcome.FAILED,
               target_type="audit_event", target_id=row[0], zone=row[7], aggregate=False,
               details={"event_id": row[0], "reason": problem, "action": row[8], "actor": row[3],
                        "occurred_at": fmt_time(row[2]) if row[2] is not None else None})


# --- denial windows -------------------------------------------------------------------------

DENIAL_GRACE_S = 5


def summarize_denials(store: Store, *, now: dt.datetime | None = None) -> int:
    """Close denial windows that have ended: one `audit.denials.aggregate` event per window that counted
    more than its first denial. Each window is closed once (a conditional UPDATE). Returns how many
    summary events were written."""
    now = now or utcnow()
    t = DenialWindow.__table__
    written = 0
    with store.sessions() as s:  # a read first: most seconds there is nothing to close, and no write lock
        ended = [(wid, start, window_s) for wid, start, window_s in s.execute(
            select(t.c.id, t.c.window_start, t.c.window_s).where(
                t.c.summarized_at.is_(None), t.c.window_start < now - dt.timedelta(seconds=DENIAL_GRACE_S)))
            if start + dt.timedelta(seconds=window_s + DENIAL_GRACE_S) <= now]
    if not ended:
        return 0
    with store.transaction() as s:
        for wid, start, window_s in ended:
            got = s.execute(update(t).where(t.c.id == wid, t.c.summarized_at.is_(None)).values(summarized_at=now)
                            .returning(t.c.actor, t.c.source_ip, t.c.action, t.c.reason, t.c.count,
                                       t.c.first_event_id)).first()
            if got is None or got.count <= 1:
                continue
            record(s, actor=SYSTEM, action=Action.AUDIT_DENIALS, outcome=Outcome.DENIED, aggregate=False,
                   target_type="audit_event", target_id=got.first_event_id,
                   details={"actor": got.actor, "source_ip": got.source_ip or None, "action": got.action,
                            "reason": got.reason or None, "window_start": fmt_time(start), "window_s": window_s,
                            "count": got.count,
                            "first_event_id": got.first_event_id})
            written += 1
    return written


def _assign_seqs(session: Session, seqs: list[dict]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # One statement with two arrays instead of an UPDATE per row.
        session.execute(text("UPDATE audit_events AS e SET seq = v.seq FROM unnest(CAST(:ids AS bigint[]), "
                             "CAST(:seqs AS bigint[])) AS v(id, seq) WHERE e.id = v.id"),
                        {"ids": [x["eid"] for x in seqs], "seqs": [x["new_seq"] for x in seqs]})
        return
    t = AuditEvent.__table__
    session.execute(update(t).where(t.c.id == bindparam("eid")).values(seq=bindparam("new_seq")), seqs)


# --- checkpoints --------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckpointBody:
    origin: str
    tree_size: int
    root: bytes
    issued_at: str
    hash_name: str
    key_id: str

    def text(self) -> str:
        return (f"pdzone audit checkpoint v1\norigin: {self.origin}\nsize: {self.tree_size}\n"
                f"root: {self.root.hex()}\nhash: {self.hash_name}\ntime: {self.issued_at}\n"
                f"key: {self.key_id}\n")

    @classmethod
    def parse(cls, text: str) -> CheckpointBody:
        lines = text.split("\n")
        if len(lines) != 8 or lines[0] != "pdzone audit checkpoint v1" or lines[7] != "":
            raise Invalid("检查点格式无效", "not a pdzone checkpoint", code="bad_checkpoint")
        kv = dict(line.split(": ", 1) for line in lines[1:7])
        try:
            return cls(kv["origin"], int(kv["size"]), bytes.fromhex(kv["root"]), kv["time"], kv["hash"],
                       kv["key"])
        except (KeyError, ValueError) as e:
            raise Invalid("检查点格式无效", "not a pdzone checkpoint", code="bad_checkpoint") from e


def register_key(session: Session, public: PublicKey, *, role: str, user_id: int | None = None) -> AuditKey:
    key = session.get(AuditKey, public.key_id)
    if key is None:
        key = AuditKey(key_id=public.key_id, suite=public.suite, public_pem=public.pem.decode(),
                       role=role, user_id=user_id, created_at=utcnow())
        session.add(key)
        session.flush()
    return key


def root_at(session: Session, suite: CryptoSuite, size: int) -> bytes:
    h = hasher(suite)
    if size == 0:
        return h(b"")
    nodes = fetch_nodes(session, merkle.nodes_for([(0, size)]))
    return merkle.range_hash(h, nodes, 0, size)


def issue_checkpoint(store: Store, suite: CryptoSuite, signer: PrivateKey, *, origin: str,
                     every_events: int = 1, every_s: float = 0, force: bool = False) -> Checkpoint | None:
    """Sign the current tree head when enough events or time have passed (or `force`)."""
    with store.transaction() as s:
        st = _state(s, suite, lock=True)
        now = utcnow()
        grown = st.tree_size - st.checkpoint_size
        since = (now - st.checkpoint_at).total_seconds() if st.checkpoint_at else every_s
        first = st.tree_size > 0 and session_has_no_checkpoint(s)
        due = grown >= every_events or (grown > 0 and since >= every_s) or (force and (grown > 0 or first))
        if not due or (st.tree_size == 0 and not force):
            return None
        h = hasher(suite)
        root = merkle.fold(h, _split_hashes(st.compact, len(h(b"")))) if st.tree_size else h(b"")
        pub = signer.public()
        register_key(s, pub, role="platform")
        body = CheckpointBody(origin, st.tree_size, root, fmt_time(now), suite.hash_name, pub.key_id)
        text = body.text()
        cp = Checkpoint(tree_size=st.tree_size, root_hash=root, issued_at=now, key_id=pub.key_id,
                        body=text, signature=signer.sign(text.encode()))
        s.add(cp)
        st.checkpoint_size = st.tree_size
        st.checkpoint_at = now
        st.checkpoint_count = (st.checkpoint_count or 0) + 1
        s.flush()
        return cp


def session_has_no_checkpoint(session: Session) -> bool:
    return session.scalar(select(Checkpoint.id).limit(1)) is None


def latest_checkpoint(session: Session) -> Checkpoint | None:
    return session.scalars(select(Checkpoint).order_by(Checkpoint.tree_size.desc(), Checkpoint.id.desc())
                           .limit(1)).first()


def latest_checkpoint_document(session: Session) -> dict:
    """The latest checkpoint's portable document, or NotFound when none is signed yet."""
    cp = latest_checkpoint(session)
    if cp is None:
        raise NotFound("尚无检查点", "no checkpoint yet", code="checkpoint_not_found")
    return checkpoint_document(session, cp)


def checkpoint_document(session: Session, cp: Checkpoint) -> dict:
    """The portable form of a checkpoint: what a supervisor keeps outside the platform."""
    key = session.get(AuditKey, cp.key_id)
    assert key is not None
    return {"format": "pdzone-checkpoint-v1", "id": cp.id, "tree_size": cp.tree_size,
            "root_hash": cp.root_hash.hex(), "issued_at": fmt_time(cp.issued_at), "key_id": cp.key_id,
            "suite": key.suite, "body": cp.body, "signature": cp.signature.hex(),
            "public_key": key.public_pem}


# --- proofs --------------------------------------------------------------------------------

def fetch_nodes(session: Session, need: set[merkle.Node]) -> dict[merkle.Node, bytes]:
    if not need:
        return {}
    t = AuditNode.__table__
    by_level: dict[int, list[int]] = {}
    for level, idx in need:
        by_level.setdefault(level, []).append(idx)
    # One IN list per level: both databases use the primary key for it (row-value IN is a scan on SQLite).
    cond = or_(*[and_(t.c.level == lv, t.c.idx.in_(sorted(ix))) for lv, ix in by_level.items()])
    rows = session.execute(select(t.c.level, t.c.idx, t.c.hash).where(cond)).all()
    got = {(r[0], r[1]): bytes(r[2]) for r in rows}
    missing = need - got.keys()
    if missing:
        raise NotFound("日志树节点缺失", f"log tree nodes missing: {sorted(missing)[:3]}",
                       code="audit_nodes_missing")
    return got


def tree_size(session: Session) -> int:
    return session.scalar(select(AuditLogState.tree_size).where(AuditLogState.id == 1)) or 0


def _check_size(session: Session, n: int) -> None:
    size = tree_size(session)
    if not 0 < n <= size:
        raise Invalid(f"树大小须在 1 到 {size} 之间", f"tree size must be between 1 and {size}",
                      code="bad_tree_size")


def inclusion_proof(session: Session, suite: CryptoSuite, seq: int, size: int) -> dict:
    _check_size(session, size)
    if not 0 <= seq < size:
        raise Invalid("事件序号超出树大小", "seq is outside the tree", code="bad_seq")
    h = hasher(suite)
    ranges = merkle.inclusion_ranges(seq, size)
    nodes = fetch_nodes(session, merkle.nodes_for([*ranges, (0, size), (seq, seq + 1)]))
    return {"seq": seq, "tree_size": size, "hash": suite.hash_name,
            "leaf_hash": nodes[(0, seq)].hex(),
            "proof": [merkle.range_hash(h, nodes, a, b).hex() for a, b in ranges],
            "root_hash": merkle.range_hash(h, nodes, 0, size).hex()}


def consistency_proof(session: Session, suite: CryptoSuite, first: int, second: int) -> dict:
    _check_size(session, second)
    if not 0 < first <= second:
        raise Invalid("first 须在 1 到 second 之间", "first must be between 1 and second",
                      code="bad_tree_size")
    h = hasher(suite)
    ranges = merkle.consistency_ranges(first, second)
    nodes = fetch_nodes(session, merkle.nodes_for([*ranges, (0, first), (0, second)]))
    return {"first": first, "second": second, "hash": suite.hash_name,
            "first_root": merkle.range_hash(h, nodes, 0, first).hex(),
            "second_root": merkle.range_hash(h, nodes, 0, second).hex(),
            "proof": [merkle.range_hash(h, nodes, a, b).hex() for a, b in ranges]}


def suite_of_log(session: Session, default: str) -> CryptoSuite:
    st = session.get(AuditLogState, 1)
    return get_suite(st.suite if st else default)


def maintain(store: Store, suite: CryptoSuite, signer: PrivateKey, *, origin: str, every_events: int,
             every_s: float) -> tuple[int, Checkpoint | None]:
    """Close ended denial windows, integrate what has committed, then sign a checkpoint if N events or
    T seconds have passed."""
    summarize_denials(store)
    n = integrate(store, suite)
    cp = issue_checkpoint(store, suite, signer, origin=origin, every_events=every_events, every_s=every_s)
    return n, cp
