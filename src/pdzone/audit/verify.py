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

from sqlalchemy import and_, select

from pdzone.audit import merkle
from pdzone.audit.encoding import event_dict, leaf_bytes
from pdzone.audit.log import EVENT_COLUMNS, CheckpointBody, hasher
from pdzone.audit.models import AuditEvent, AuditKey, AuditLogState, AuditNode, Checkpoint
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
                  checkpoints: list[CheckpointIn], pending: int = 0) -> VerifyResult:
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
    ci, last_ok = 0, 0
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
        cr.append(lh)
        expected += 1
        while ci < len(cps) and cps[ci].tree_size == expected:
            cp = cps[ci]
            if cr.root() != cp.root:
                return _tampered(last_ok, f"the first {expected} events do not match {cp.label}; "
                                 f"the first bad event lies between seq {last_ok} and {expected - 1}",
                                 f"前 {expected} 条事件与{cp.label}不符；首个被篡改的事件在序号 {last_ok} 到 "
                                 f"{expected - 1} 之间", tree_size=expected, checkpoints_checked=checked,
                                 pending=pending)
            checked += 1
            last_ok = expected
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
    notes = []
    if cps and cps[-1].tree_size < expected:
        notes.append(f"{expected - cps[-1].tree_size} newest events are not yet covered by a checkpoint")
    if pending:
        notes.append(f"{pending} events committed but not yet integrated")
    return VerifyResult(INTACT, f"intact: {expected} events, {checked} checkpoints verified",
                        f"完整：{expected} 条事件，{checked} 个检查点验证通过", tree_size=expected,
                        checkpoints_checked=checked, pending=pending, notes=notes)


def _db_leaves(store: Store, suite_name: str) -> Iterator[tuple[int, bytes, bytes | None]]:
    h = hasher(get_suite(suite_name))
    n = AuditNode.__table__
    e = AuditEvent.__table__
    q = (select(*EVENT_COLUMNS, n.c.hash.label("stored"))
         .select_from(e.outerjoin(n, and_(n.c.level == 0, n.c.idx == e.c.seq)))
         .where(e.c.seq.is_not(None)).order_by(e.c.seq))
    with store.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=20000).execute(q)
        for row in result.mappings():
            lh = merkle.leaf_hash(h, leaf_bytes(event_dict(row)))
            stored = row["stored"]
            yield row["seq"], lh, (bytes(stored) if stored is not None else b"")


def verify_store(store: Store, *, outside: CheckpointIn | None = None) -> VerifyResult:
    try:
        with store.sessions() as s:
            st = s.get(AuditLogState, 1)
            if st is None:
                return VerifyResult(INTACT, "the log is empty", "日志为空")
            keys = {k.key_id: k for k in s.scalars(select(AuditKey))}
            cps = []
            for cp in s.scalars(select(Checkpoint).order_by(Checkpoint.tree_size)):
                key = keys.get(cp.key_id)
                if key is None:
                    return _tampered(None, f"checkpoint {cp.id} names an unknown key",
                                     f"检查点 {cp.id} 的密钥不存在")
                cps.append(CheckpointIn(cp.tree_size, bytes(cp.root_hash), cp.body, bytes(cp.signature),
                                        PublicKey(key.suite, key.public_pem.encode()),
                                        f"checkpoint {cp.id}"))
            pending = s.query(AuditEvent).filter(AuditEvent.seq.is_(None)).count()
            suite_name, size = st.suite, st.tree_size
    except Exception as e:  # no database, no schema: cannot verify
        return VerifyResult(UNVERIFIABLE, f"cannot read the log: {type(e).__name__}: {e}".splitlines()[0],
                            "无法读取操作日志")
    if outside is not None:
        if outside.public.suite != suite_name:
            return VerifyResult(UNVERIFIABLE, "the checkpoint file uses another crypto suite",
                                "检查点文件使用另一密码套件")
        if not outside.public.verify(outside.signature, outside.body.encode()):
            return VerifyResult(UNVERIFIABLE, "the checkpoint file's own signature does not verify",
                                "检查点文件自身签名验证失败")
        if outside.tree_size > size:
            return _tampered(size, f"{outside.label} covers {outside.tree_size} events but the log has {size}",
                             f"{outside.label}覆盖 {outside.tree_size} 条事件，而日志只有 {size} 条",
                             tree_size=size, pending=pending)
        cps.append(outside)
    return verify_leaves(suite_name, _db_leaves(store, suite_name), integrated_size=size, checkpoints=cps,
                         pending=pending)


def verify_bundle(doc: dict, *, outside: CheckpointIn | None = None) -> VerifyResult:
    """Verify an export bundle offline: events (or foreign leaf hashes), checkpoints and keys."""
    if doc.get("format") != "pdzone-audit-bundle-v1":
        return VerifyResult(UNVERIFIABLE, "not a pdzone audit bundle", "不是 pdzone 审计导出包")
    suite_name = doc["suite"]
    h = hasher(get_suite(suite_name))
    keys = {k["key_id"]: PublicKey(k["suite"], k["public_pem"].encode()) for k in doc["keys"]}
    cps = []
    for c in doc["checkpoints"]:
        if c["key_id"] not in keys:
            return _tampered(None, f"checkpoint {c['id']} names a key not in the bundle",
                             f"检查点 {c['id']} 的密钥不在导出包中")
        cp = checkpoint_from_doc({**c, "public_key": keys[c["key_id"]].pem.decode()}, label=f"checkpoint {c['id']}")
        cps.append(cp)
    if outside is not None:
        if not outside.public.verify(outside.signature, outside.body.encode()):
            return VerifyResult(UNVERIFIABLE, "the checkpoint file's own signature does not verify",
                                "检查点文件自身签名验证失败")
        if outside.tree_size > doc["tree_size"]:
            return _tampered(doc["tree_size"], f"{outside.label} covers more events than the bundle holds",
                             f"{outside.label}覆盖的事件多于导出包")
        cps.append(outside)

    def leaves():
        for ev in doc["events"]:
            if "leaf_hash" in ev and "action" not in ev:  # another zone's event: its hash only
                yield ev["seq"], bytes.fromhex(ev["leaf_hash"]), None
            else:
                yield ev["seq"], merkle.leaf_hash(h, leaf_bytes(ev)), None

    return verify_leaves(suite_name, leaves(), integrated_size=doc["tree_size"], checkpoints=cps)
