"""`pdzone audit verify`: recompute the whole log and check it against signed checkpoints.

Exit codes: 0 intact, 1 tampered (naming the first bad `seq` where it can be known), 2 could not
verify (no database, unreadable file, a checkpoint file whose own signature fails).

What it catches: an event row altered, deleted or inserted; two rows swapping contents while
each keeps its `seq` (the leaf encodes `seq`); a rewrite of rows *and* tree nodes re-signed with
the platform key, when a checkpoint held outside the platform is given (`--checkpoint`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import DateTime, and_, func, or_, select, text, type_coerce

from pdzone.audit import merkle
from pdzone.audit.encoding import leaf_bytes, leaf_bytes_from_row
from pdzone.audit.events import Action, config_of, mac_function
from pdzone.audit.log import EVENT_COLUMNS, CheckpointBody, hasher, mac_problem
from pdzone.audit.models import AuditEvent, AuditKey, AuditLogState, AuditNode, Checkpoint, Cosignature, Review
from pdzone.crypto import PublicKey, get_suite
from pdzone.db import Store

INTACT, TAMPERED, UNVERIFIABLE = 0, 1, 2


@dataclass
class VerifyResult:
    exit_code: int
    en: str
    zh: str
    first_bad_seq: int | None = None
    tree_size: int = 0
    checkpoints_checked: int = 0
    pending: int = 0
    notes: list[str] = field(default_factory=list)
    exact: bool = True  # False when first_bad_seq is only the start of a range
    warnings: list[str] = field(default_factory=list)  # reported, not tampering: time running backwards

    @property
    def status(self) -> str:
        return {0: "intact", 1: "tampered", 2: "unverifiable"}[self.exit_code]

    def as_dict(self) -> dict:
        return {"status": self.status, "exit_code": self.exit_code, "first_bad_seq": self.first_bad_seq,
                "tree_size": self.tree_size, "checkpoints_checked": self.checkpoints_checked,
                "pending": self.pending, "message": self.en, "message_zh": self.zh, "notes": self.notes,
                "warnings": self.warnings}


@dataclass
class CheckpointIn:
    """A checkpoint to check the log against, with the key that is to have signed it."""

    tree_size: int
    root: bytes
    body: str
    signature: bytes
    public: PublicKey
    label: str


def load_checkpoint_file(path: Path) -> CheckpointIn:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return checkpoint_from_doc(doc, label=f"checkpoint file {path.name}")


def checkpoint_from_doc(doc: dict, *, label: str) -> CheckpointIn:
    body = CheckpointBody.parse(doc["body"])
    public = PublicKey(doc["suite"], doc["public_key"].encode())
    if public.key_id != body.key_id:
        raise ValueError("the checkpoint names another key than the one it carries")
    return CheckpointIn(body.tree_size, body.root, doc["body"], bytes.fromhex(doc["signature"]), public, label)


def _tampered(seq: int | None, en: str, zh: str, **kw) -> VerifyResult:
    return VerifyResult(TAMPERED, en, zh, first_bad_seq=seq, **kw)


def verify_leaves(suite_name: str, leaves: Iterable[tuple[int, bytes, bytes | None]], *, integrated_size: int,
                  checkpoints: list[CheckpointIn], pending: int = 0,
                  stored_root: bytes | None = None) -> VerifyResult:
    """Core check over (seq, recomputed leaf hash, stored leaf hash or None), ordered by seq."""
    suite = get_suite(suite_name)
    h = hasher(suite)
    for cp in checkpoints:
        if not cp.public.verify(cp.signature, cp.body.encode()):
            return _tampered(None, f"{cp.label}: signature does not verify",
                             f"{cp.label}：签名验证失败", pending=pending)
        body = CheckpointBody.parse(cp.body)
        if body.tree_size != cp.tree_size or body.root != cp.root:
            return _tampered(None, f"{cp.label}: stored size or root differs from the signed text",
                             f"{cp.label}：存储的大小或根哈希与签名内容不一致", pending=pending)
    cps = sorted(checkpoints, key=lambda c: c.tree_size)
    ci = 0
    verified: list[int] = []  # sizes of checkpoints already matched
    cr = merkle.CompactRange(h)
    expected = 0
    checked = 0
    while ci < len(cps) and cps[ci].tree_size == 0:
        ci += 1
    for seq, lh, stored in leaves:
        if seq != expected:
            if seq < expected:
                return _tampered(seq, f"seq {seq} appears twice: a row was inserted",
                                 f"序号 {seq} 重复出现：有记录被插入", tree_size=expected, pending=pending)
            return _tampered(expected, f"seq {expected} is missing: a row was deleted",
                             f"序号 {expected} 缺失：有记录被删除", tree_size=expected, pending=pending)
        if stored is not None and stored != lh:
            return _tampered(seq, f"event seq {seq} no longer matches its leaf hash: the row was altered",
                             f"序号 {seq} 的事件与其叶哈希不符：记录被篡改", tree_size=expected,
                             pending=pending)
        cr.push(lh)
        expected += 1
        while ci < len(cps) and cps[ci].tree_size == expected:
            cp = cps[ci]
            if cr.root() != cp.root:
                last_ok = max([v for v in verified if v < expected], default=0)
                return _tampered(last_ok, f"the first {expected} events do not match {cp.label}; "
                                 f"the first bad event lies between seq {last_ok} and {expected - 1}",
                                 f"前 {expected} 条事件与{cp.label}不符；首个被篡改的事件在序号 {last_ok} 到 "
                                 f"{expected - 1} 之间", tree_size=expected, checkpoints_checked=checked,
                                 pending=pending, exact=False)
            checked += 1
            verified.append(expected)
            ci += 1
    if expected < integrated_size:
        return _tampered(expected, f"the log holds {integrated_size} events but only {expected} rows remain "
                         f"from seq {expected}: rows were deleted",
                         f"日志应有 {integrated_size} 条事件，从序号 {expected} 起的记录缺失：有记录被删除",
                         tree_size=expected, pending=pending)
    if expected > integrated_size:
        return _tampered(integrated_size, f"rows from seq {integrated_size} are beyond the log's size: inserted",
                         f"序号 {integrated_size} 起的记录超出日志大小：有记录被插入", tree_size=expected,
                         pending=pending)
    if ci < len(cps):
        cp = cps[ci]
        return _tampered(expected, f"{cp.label} covers {cp.tree_size} events but the log has {expected}: "
                         "events were removed",
                         f"{cp.label}覆盖 {cp.tree_size} 条事件，而日志只有 {expected} 条：事件被删除",
                         tree_size=expected, checkpoints_checked=checked, pending=pending)
    if stored_root is not None and expected and cr.root() != stored_root:
        last_ok = max(verified, default=0)
        return _tampered(last_ok, "the events no longer match the log's stored tree head; the first bad "
                         f"event lies between seq {last_ok} and {expected - 1}",
                         f"事件与日志存储的树根不符；首个被篡改的事件在序号 {last_ok} 到 {expected - 1} 之间",
                         tree_size=expected, checkpoints_checked=checked, pending=pending, exact=False)
    notes = []
    if cps and cps[-1].tree_size < expected:
        notes.append(f"{expected - cps[-1].tree_size} newest events are not yet covered by a checkpoint")
    if pending:
        notes.append(f"{pending} events committed but not yet integrated")
    return VerifyResult(INTACT, f"intact: {expected} events, {checked} checkpoints verified",
                        f"完整：{expected} 条事件，{checked} 个检查点验证通过", tree_size=expected,
                        checkpoints_checked=checked, pending=pending, notes=notes)


class RowChecks:
    """Checks made on each integrated row as the leaves stream by: its MAC (when the key is at hand),
    a MAC-less row after MACed ones, time running backwards, and the review events it holds."""

    def __init__(self, suite_name: str, key: bytes | None, tolerance_s: float) -> None:
        self.key = key
        self.mac_fn = mac_function(suite_name, key) if key is not None else None
        self.tolerance = dt.timedelta(seconds=tolerance_s)
        self.bad: tuple[int, str, str] | None = None  # (seq, en, zh) of the first bad MAC
        self.seen_mac = False
        self.latest: dt.datetime | None = None
        self.threshold: dt.datetime | None = None  # latest - tolerance
        self.backwards: list[tuple[int, int, float]] = []  # (seq, id, seconds back)
        self.review_events: Counter = Counter()

    def row(self, row) -> None:
        seq = row[1]
        if row[15] is None:
            if self.seen_mac and self.bad is None:
                self.bad = (seq, f"event seq {seq} has no MAC although earlier events have one",
                            f"序号 {seq} 的事件没有 MAC，而此前的事件有")
        else:
            self.seen_mac = True
            if self.mac_fn is not None and self.bad is None and mac_problem(self.mac_fn, row) is not None:
                self.bad = (seq, f"event seq {seq}: its MAC does not verify (not written by the platform, or altered)",
                            f"序号 {seq} 的事件 MAC 验证失败（非平台写入或被篡改）")
        t = row[2]  # naive (SQLite) or aware (PostgreSQL), the same within one database
        if self.threshold is None or t > self.latest:
            self.latest, self.threshold = t, t - self.tolerance
        elif t < self.threshold:
            self.backwards.append((seq, row[0], (self.latest - t).total_seconds()))
        if row[8] == _REVIEW and row[11] == "success":
            self.review_events[_review_key_of_event(row)] += 1

    def time(self, seq: int | None, eid: int, t: dt.datetime) -> None:
        if self.threshold is None or t > self.latest:
            self.latest, self.threshold = t, t - self.tolerance
        elif t < self.threshold:
            self.backwards.append((seq, eid, (self.latest - t).total_seconds()))


_REVIEW = str(Action.AUDIT_REVIEW)


def _review_key_of_event(row) -> tuple:
    try:
        d = json.loads(row[14])
    except ValueError:
        d = {}
    return (row[10], row[3], d.get("verdict"), d.get("comment"))


def _event_columns():
    # The plain DateTime type: the column's UTC decorator would cost a Python call per row.
    return [type_coerce(c, DateTime(timezone=True)) if c.key == "occurred_at" else c for c in EVENT_COLUMNS]


def _db_leaves(store: Store, suite_name: str, *, with_stored: bool,
               checks: RowChecks | None = None) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(seq, recomputed leaf hash, stored leaf hash or None) in seq order, streamed as plain tuples."""
    h = hasher(get_suite(suite_name))
    n = AuditNode.__table__
    e = AuditEvent.__table__
    q = select(*_event_columns()).where(e.c.seq.is_not(None)).order_by(e.c.seq)
    if with_stored:
        q = q.add_columns(n.c.hash).select_from(e.outerjoin(n, and_(n.c.level == 0, n.c.idx == e.c.seq)))
    with store.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=20000).execute(q)
        if not with_stored:
            for row in result:
                if checks is not None:
                    checks.row(row)
                yield row[1], h(b"\x00" + leaf_bytes_from_row(row)), None
            return
        for row in result:  # id, seq, ..., details, mac, stored leaf hash
            stored = row[16]
            yield row[1], h(b"\x00" + leaf_bytes_from_row(row)), (bytes(stored) if stored is not None else b"")


def _cosignatures_ok(items, keys: dict[str, PublicKey], bodies: dict[int, str]) -> str | None:
    """The first countersignature that does not verify, described; None when all do."""
    for cp_id, key_id, sig in items:
        key, body = keys.get(key_id), bodies.get(cp_id)
        if key is None or body is None or not key.verify(sig, body.encode()):
            return f"countersignature by key {key_id} on checkpoint {cp_id}"
    return None


_POPULATED = {"users": "用户", "datasets": "数据集", "organizations": "机构", "zones": "专区"}


def _platform_populated(session) -> str | None:
    """The first of users, datasets, organizations, zones the platform holds: each was created with an
    event, so an empty log beside them cannot be the truth."""
    for table in _POPULATED:
        try:
            with session.begin_nested():
                if session.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None:
                    return table
        except Exception:  # noqa: S112 - a database without that area's tables
            continue
    return None


_DEFAULT = object()


def verify_store(store: Store, *, outside: CheckpointIn | None = None,
                 trusted_keys: set[str] | None = None, mac_key: bytes | object | None = _DEFAULT,
                 clock_tolerance_s: float = 300.0) -> VerifyResult:
    """Verify the log in the database. `trusted_keys`: the platform key ids the checkpoints must be
    signed with (from the key store); a checkpoint signed by any other key is a forgery. `mac_key`:
    the event MAC key (by default the store's configured one, if it exists on this host); without
    it, event MACs are not checked and a note says so."""
    if mac_key is _DEFAULT:
        cfg = config_of(store)
        mac_key = cfg.existing_mac_key() if cfg is not None else None
    try:
        with store.sessions() as s:
            if store.dialect == "postgresql":  # one snapshot for the state, checkpoints and reviews
                s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            st = s.get(AuditLogState, 1)
            pending = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_(None),
                                                                                  AuditEvent.refused_at.is_(None)))
            if st is None or st.tree_size == 0:
                integrated = s.scalar(select(AuditEvent.id).where(AuditEvent.seq.is_not(None)).limit(1))
                n_cps = s.scalar(select(Checkpoint.id).limit(1))
                if st is None and (integrated or n_cps or (outside is not None and outside.tree_size > 0)):
                    return _tampered(0, "the log's state row is missing while events or checkpoints exist",
                                     "日志状态记录缺失，但存在事件或检查点")
                if not integrated and not n_cps and not (st is not None and st.checkpoint_count):
                    populated = _platform_populated(s)
                    if populated:
                        return VerifyResult(UNVERIFIABLE, f"the log is empty but the platform has {populated}: "
                                            "its events cannot have been removed legitimately; cannot verify",
                                            f"日志为空，但平台上已有{_POPULATED[populated]}："
                                            "无法验证（事件可能已被删除）", pending=pending)
                    if st is None:
                        return VerifyResult(INTACT, "the log is empty", "日志为空", pending=pending)
            keys = {k.key_id: k for k in s.scalars(select(AuditKey))}
            pubs = {k: PublicKey(v.suite, v.public_pem.encode()) for k, v in keys.items()}
            cps, bodies = [], {}
            for cp in s.scalars(select(Checkpoint).order_by(Checkpoint.tree_size)):
                key = keys.get(cp.key_id)
                if key is None or key.role != "platform" or (trusted_keys is not None
                                                             and cp.key_id not in trusted_keys):
                    return _tampered(None, f"checkpoint {cp.id} is signed by key {cp.key_id}, not the platform's",
                                     f"检查点 {cp.id} 不是由平台密钥签名的（密钥 {cp.key_id}）")
                bodies[cp.id] = cp.body
                cps.append(CheckpointIn(cp.tree_size, bytes(cp.root_hash), cp.body, bytes(cp.signature),
                                        pubs[cp.key_id], f"checkpoint {cp.id}"))
            bad = _cosignatures_ok([(c.checkpoint_id, c.key_id, bytes(c.signature))
                                    for c in s.scalars(select(Cosignature))], pubs, bodies)
            if bad:
                return _tampered(None, f"{bad} does not verify", f"会签验证失败：{bad}")
            early = _checkpoints_missing(st, cps, pending)
            if early is not None:
                return early
            refused = s.execute(select(AuditEvent.id, AuditEvent.action).where(AuditEvent.refused_at.is_not(None))
                                .order_by(AuditEvent.id).limit(1)).first()
            if refused is not None:
                return _tampered(None, f"event id {refused[0]} ({refused[1]}) was written into the database without "
                                 "a valid MAC and refused at integration: a forgery",
                                 f"事件 id {refused[0]}（{refused[1]}）未经平台写入（MAC 无效），已被拒绝入树：伪造",
                                 pending=pending)
            reviews = Counter((str(r.event_id), r.reviewer, r.verdict, r.comment) for r in s.scalars(select(Review)))
            suite_name, size = st.suite, st.tree_size
            h = hasher(get_suite(suite_name))
            width = len(h(b""))
            compact = bytes(st.compact)
            stored_root = merkle.fold(h, [compact[i:i + width] for i in range(0, len(compact), width)]) \
                if compact else None
    except Exception as e:  # no database, no schema: cannot verify
        return VerifyResult(UNVERIFIABLE, f"cannot read the log: {type(e).__name__}: {e}".splitlines()[0],
                            "无法读取操作日志")
    if outside is not None:
        early = _check_outside(outside, suite_name, size)
        if early is not None:
            return early
        cps.append(outside)
    # First pass: recompute everything against the signed checkpoints and the stored tree head, without
    # reading the stored leaf hashes. Only when that finds a mismatch, a second pass compares each
    # event with its stored leaf hash to name the first altered one.
    checks = RowChecks(suite_name, mac_key, clock_tolerance_s)  # type: ignore[arg-type]
    first = verify_leaves(suite_name, _db_leaves(store, suite_name, with_stored=False, checks=checks),
                          integrated_size=size, checkpoints=cps, pending=pending, stored_root=stored_root)
    if first.exit_code == TAMPERED and not first.exact:
        second = verify_leaves(suite_name, _db_leaves(store, suite_name, with_stored=True), integrated_size=size,
                               checkpoints=cps, pending=pending, stored_root=stored_root)
        return second if second.exit_code == TAMPERED else first
    if first.exit_code != INTACT:
        return first
    if checks.bad is not None:
        seq, en, zh = checks.bad
        return _tampered(seq, en, zh, tree_size=size, checkpoints_checked=first.checkpoints_checked, pending=pending)
    for late in (lambda: _check_nodes(store, h, size, stored_root, pending),
                 lambda: _check_pending(store, suite_name, mac_key, checks, pending),
                 lambda: _check_reviews(reviews, checks.review_events, pending)):
        res = late()
        if res is not None:
            res.tree_size, res.checkpoints_checked = size, first.checkpoints_checked
            return res
    if mac_key is None:
        first.notes.append("the event MAC key is not on this host: event MACs were not checked")
    for seq, eid, back in checks.backwards[:5]:
        where = f"seq {seq}" if seq is not None else f"pending id {eid}"
        first.warnings.append(f"{where} (id {eid}): occurred_at is {back:,.0f} s earlier than an event "
                              "before it: a clock step, or a backdated event")
    if len(checks.backwards) > 5:
        first.warnings.append(f"… and {len(checks.backwards) - 5} more events with time running backwards")
    return first


def _checkpoints_missing(st: AuditLogState, cps: list[CheckpointIn], pending: int) -> VerifyResult | None:
    """The state counts every checkpoint ever signed and names the size of the last one."""
    recorded = st.checkpoint_count or 0
    if len(cps) < recorded:
        return _tampered(None, f"{recorded - len(cps)} of the {recorded} signed checkpoints are missing: deleted",
                         f"已签发的 {recorded} 个检查点中缺少 {recorded - len(cps)} 个：被删除", pending=pending)
    if len(cps) > recorded:
        return _tampered(None, f"{len(cps)} checkpoints are stored but the log signed {recorded}: inserted",
                         f"存储了 {len(cps)} 个检查点，而日志只签发了 {recorded} 个：有检查点被插入", pending=pending)
    if recorded and st.checkpoint_size and not any(c.tree_size == st.checkpoint_size for c in cps):
        return _tampered(None, f"the last checkpoint (size {st.checkpoint_size}) is missing: deleted",
                         f"最近的检查点（大小 {st.checkpoint_size}）缺失：被删除", pending=pending)
    return None


def _check_nodes(store: Store, h, size: int, stored_root: bytes | None, pending: int) -> VerifyResult | None:
    """Every stored node: exactly the perfect subtrees of the tree, each the hash of its two children,
    and the perfect cover of the whole tree folding to the root the events gave (so the leaves match)."""
    n = AuditNode.__table__

    def bad(level: int, idx: int, what_en: str, what_zh: str) -> VerifyResult:
        return _tampered(idx << level if level == 0 else None,
                         f"stored tree node (level {level}, index {idx}) {what_en}: the tree was altered",
                         f"存储的树节点（层 {level}，序号 {idx}）{what_zh}：日志树被篡改", pending=pending)

    with store.engine.connect() as conn:
        counts = {lv: (c, lo, hi) for lv, c, lo, hi in conn.execute(
            select(n.c.level, func.count(), func.min(n.c.idx), func.max(n.c.idx)).group_by(n.c.level))}
        level = 0
        while size >> level or level in counts:
            want = size >> level
            c, lo, hi = counts.get(level, (0, None, None))
            if c != want or (want and (lo != 0 or hi != want - 1)):
                return _tampered(None, f"the tree holds {c} nodes at level {level} where it should hold {want}: "
                                 "nodes were deleted or inserted",
                                 f"日志树第 {level} 层有 {c} 个节点，应有 {want} 个：节点被删除或插入", pending=pending)
            level += 1
        for lv in counts:
            if lv >= level:
                return _tampered(None, f"the tree holds nodes at level {lv}, above its height",
                                 f"日志树在第 {lv} 层有多余节点", pending=pending)
        p, left, right = n.alias("p"), n.alias("l"), n.alias("r")
        q = (select(p.c.level, p.c.idx, p.c.hash, left.c.hash, right.c.hash)
             .select_from(p.outerjoin(left, and_(left.c.level == p.c.level - 1, left.c.idx == p.c.idx * 2))
                          .outerjoin(right, and_(right.c.level == p.c.level - 1, right.c.idx == p.c.idx * 2 + 1)))
             .where(p.c.level > 0))
        for lv, idx, hh, lh, rh in conn.execution_options(stream_results=True, yield_per=20000).execute(q):
            if lh is None or rh is None or h(b"\x01" + bytes(lh) + bytes(rh)) != bytes(hh):
                return bad(lv, idx, "is not the hash of its two children", "不是其两个子节点的哈希")
        if size:
            cover = merkle.perfect_cover(0, size)
            got = {(lv, ix): bytes(hh) for lv, ix, hh in conn.execute(
                select(n.c.level, n.c.idx, n.c.hash).where(or_(*[and_(n.c.level == lv, n.c.idx == ix)
                                                                  for lv, ix in cover])))}
            if stored_root is not None and merkle.fold(h, [got[x] for x in cover]) != stored_root:
                return _tampered(None, "the stored tree nodes do not fold into the tree head the events give: "
                                 "leaf nodes were altered", "存储的树节点与事件算出的树根不符：叶节点被篡改",
                                 pending=pending)
    return None


def _check_pending(store: Store, suite_name: str, key: bytes | None, checks: RowChecks,
                   pending: int) -> VerifyResult | None:
    """Events not yet integrated: each must carry a valid MAC already (a forged row is caught before
    integration refuses it); their review events count too."""
    e = AuditEvent.__table__
    mac_fn = mac_function(suite_name, key) if key is not None else None
    q = select(*_event_columns()).where(e.c.seq.is_(None), e.c.refused_at.is_(None)).order_by(e.c.id)
    with store.engine.connect() as conn:
        for row in conn.execute(q):
            if mac_fn is not None and mac_problem(mac_fn, row) is not None:
                return _tampered(None, f"pending event id {row[0]} ({row[8]}) has no valid MAC: it was written "
                                 "into the database directly (integration will refuse it)",
                                 f"待入树事件 id {row[0]}（{row[8]}）的 MAC 无效：系直接写入数据库（入树时将被拒绝）",
                                 pending=pending)
            checks.time(None, row[0], row[2])
            if row[8] == Action.AUDIT_REVIEW and row[11] == "success":
                checks.review_events[_review_key_of_event(row)] += 1
    return None


def _check_reviews(rows: Counter, events: Counter, pending: int) -> VerifyResult | None:
    """Each review row is matched by its `audit.event.review` event (which the tree and MAC protect)."""
    extra = rows - events
    if extra:
        (eid, who, verdict, _), _n = next(iter(extra.items()))
        return _tampered(None, f"a review of event id {eid} by {who} ({verdict}) has no review event in the log: "
                         "the review row was inserted or altered",
                         f"{who} 对事件 id {eid} 的审查记录在日志中没有对应事件：审查记录被插入或篡改", pending=pending)
    missing = events - rows
    if missing:
        (eid, who, verdict, _), _n = next(iter(missing.items()))
        return _tampered(None, f"the log records a review of event id {eid} by {who} ({verdict}) that is no longer "
                         "in audit_reviews: the review row was deleted or altered",
                         f"日志记录了 {who} 对事件 id {eid} 的审查，但审查记录已不存在：被删除或篡改", pending=pending)
    return None


def _check_outside(outside: CheckpointIn, suite_name: str, size: int) -> VerifyResult | None:
    if outside.public.suite != suite_name:
        return VerifyResult(UNVERIFIABLE, "the checkpoint file uses another crypto suite",
                            "检查点文件使用另一密码套件")
    if not outside.public.verify(outside.signature, outside.body.encode()):
        return VerifyResult(UNVERIFIABLE, "the checkpoint file's own signature does not verify",
                            "检查点文件自身签名验证失败")
    if outside.tree_size > size:
        return _tampered(size, f"{outside.label} covers {outside.tree_size} events but the log has {size}: "
                         "events were removed",
                         f"{outside.label}覆盖 {outside.tree_size} 条事件，而日志只有 {size} 条：事件被删除",
                         tree_size=size)
    return None


def verify_bundle(doc: dict, *, outside: CheckpointIn | None = None,
                  trusted_keys: set[str] | None = None) -> VerifyResult:
    """Verify an export bundle offline: events (or foreign leaf hashes), checkpoints, countersignatures."""
    if doc.get("format") != "pdzone-audit-bundle-v1":
        return VerifyResult(UNVERIFIABLE, "not a pdzone audit bundle", "不是 pdzone 审计导出包")
    suite_name = doc["suite"]
    h = hasher(get_suite(suite_name))
    keys = {k["key_id"]: PublicKey(k["suite"], k["public_pem"].encode()) for k in doc["keys"]}
    roles = {k["key_id"]: k.get("role") for k in doc["keys"]}
    cps, bodies = [], {}
    for c in doc["checkpoints"]:
        if c["key_id"] not in keys or roles.get(c["key_id"]) != "platform" or (
                trusted_keys is not None and c["key_id"] not in trusted_keys):
            return _tampered(None, f"checkpoint {c['id']} is not signed by a trusted platform key",
                             f"检查点 {c['id']} 不是由受信任的平台密钥签名的")
        cps.append(checkpoint_from_doc({**c, "public_key": keys[c["key_id"]].pem.decode()},
                                       label=f"checkpoint {c['id']}"))
        bodies[c["id"]] = c["body"]
    bad = _cosignatures_ok([(c["checkpoint_id"], c["key_id"], bytes.fromhex(c["signature"]))
                            for c in doc.get("cosignatures", [])], keys, bodies)
    if bad:
        return _tampered(None, f"{bad} does not verify", f"会签验证失败：{bad}")
    if outside is not None:
        early = _check_outside(outside, suite_name, doc["tree_size"])
        if early is not None:
            return early
        cps.append(outside)

    def leaves():
        for ev in doc["events"]:
            if "leaf_hash" in ev and "action" not in ev:  # another zone's event: its hash only
                yield ev["seq"], bytes.fromhex(ev["leaf_hash"]), None
            else:
                yield ev["seq"], merkle.leaf_hash(h, leaf_bytes(ev)), None

    return verify_leaves(suite_name, leaves(), integrated_size=doc["tree_size"], checkpoints=cps)
