"""`pdzone audit verify`: recompute the whole log and check it against signed checkpoints.

Exit codes: 0 intact, 1 tampered (naming the first bad `seq` where it can be known), 2 could not
verify (no database, unreadable file, a checkpoint file whose own signature fails).

What it catches: an event row altered, deleted or inserted; two rows swapping contents while
each keeps its `seq` (the leaf encodes `seq`); a rewrite of rows *and* tree nodes re-signed with
the platform key, when a checkpoint held outside the platform is given (`--checkpoint`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import DateTime, and_, func, select, type_coerce

from pdzone.audit import merkle
from pdzone.audit.encoding import leaf_bytes, leaf_bytes_from_row
from pdzone.audit.log import EVENT_COLUMNS, CheckpointBody, hasher
from pdzone.audit.models import AuditEvent, AuditKey, AuditLogState, AuditNode, Checkpoint, Cosignature
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

    @property
    def status(self) -> str:
        return {0: "intact", 1: "tampered", 2: "unverifiable"}[self.exit_code]

    def as_dict(self) -> dict:
        return {"status": self.status, "exit_code": self.exit_code, "first_bad_seq": self.first_bad_seq,
                "tree_size": self.tree_size, "checkpoints_checked": self.checkpoints_checked,
                "pending": self.pending, "message": self.en, "message_zh": self.zh, "notes": self.notes}


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


def _db_leaves(store: Store, suite_name: str, *, with_stored: bool) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(seq, recomputed leaf hash, stored leaf hash or None) in seq order, streamed as plain tuples."""
    h = hasher(get_suite(suite_name))
    n = AuditNode.__table__
    e = AuditEvent.__table__
    # The plain DateTime type: the column's UTC decorator would cost a Python call per row.
    cols = [type_coerce(c, DateTime(timezone=True)) if c.key == "occurred_at" else c for c in EVENT_COLUMNS]
    q = select(*cols).where(e.c.seq.is_not(None)).order_by(e.c.seq)
    if with_stored:
        q = q.add_columns(n.c.hash).select_from(e.outerjoin(n, and_(n.c.level == 0, n.c.idx == e.c.seq)))
    with store.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=20000).execute(q)
        if not with_stored:
            for row in result:
                yield row[1], h(b"\x00" + leaf_bytes_from_row(row)), None
            return
        for row in result:  # id, seq, ..., details, stored leaf hash
            stored = row[15]
            yield row[1], h(b"\x00" + leaf_bytes_from_row(row)), (bytes(stored) if stored is not None else b"")


def _cosignatures_ok(items, keys: dict[str, PublicKey], bodies: dict[int, str]) -> str | None:
    """The first countersignature that does not verify, described; None when all do."""
    for cp_id, key_id, sig in items:
        key, body = keys.get(key_id), bodies.get(cp_id)
        if key is None or body is None or not key.verify(sig, body.encode()):
            return f"countersignature by key {key_id} on checkpoint {cp_id}"
    return None


def verify_store(store: Store, *, outside: CheckpointIn | None = None,
                 trusted_keys: set[str] | None = None) -> VerifyResult:
    """Verify the log in the database. `trusted_keys`: the platform key ids the checkpoints must be
    signed with (from the key store); a checkpoint signed by any other key is a forgery."""
    try:
        with store.sessions() as s:
            st = s.get(AuditLogState, 1)
            pending = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.seq.is_(None)))
            if st is None:
                integrated = s.scalar(select(AuditEvent.id).where(AuditEvent.seq.is_not(None)).limit(1))
                n_cps = s.scalar(select(Checkpoint.id).limit(1))
                if integrated or n_cps or (outside is not None and outside.tree_size > 0):
                    return _tampered(0, "the log's state row is missing while events or checkpoints exist",
                                     "日志状态记录缺失，但存在事件或检查点")
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
    first = verify_leaves(suite_name, _db_leaves(store, suite_name, with_stored=False), integrated_size=size,
                          checkpoints=cps, pending=pending, stored_root=stored_root)
    if first.exit_code != TAMPERED or first.exact:
        return first
    second = verify_leaves(suite_name, _db_leaves(store, suite_name, with_stored=True), integrated_size=size,
                           checkpoints=cps, pending=pending, stored_root=stored_root)
    return second if second.exit_code == TAMPERED else first


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
