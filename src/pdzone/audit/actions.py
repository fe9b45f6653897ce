"""Auditors' and supervisors' actions on the log: review (审查), witness keys, countersignatures."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pdzone.audit.events import Action, Actor, record
from pdzone.audit.log import register_key
from pdzone.audit.models import AuditEvent, AuditKey, Checkpoint, Cosignature, Review
from pdzone.crypto import PublicKey, get_suite
from pdzone.db import utcnow
from pdzone.errors import Forbidden, Invalid, NotFound

VERDICTS = ("ok", "concern")


def do_review(session: Session, event_id: int, *, verdict: str, comment: str, actor: Actor,
              visible_zones: set[str | None]) -> Review:
    """Mark an event reviewed with a comment; the review is itself an audited event."""
    ev = session.get(AuditEvent, event_id)
    if ev is None or (None not in visible_zones and ev.zone not in visible_zones):
        raise NotFound("找不到该事件", "no such event", code="event_not_found")
    if verdict not in VERDICTS:
        raise Invalid("结论须为 ok 或 concern", "verdict must be ok or concern", code="invalid_verdict")
    comment = comment.strip()
    if not comment or len(comment) > 2000:
        raise Invalid("审查意见不能为空且不超过 2000 字", "a review comment is 1-2000 characters",
                      code="invalid_comment")
    rv = Review(event_id=ev.id, reviewer_user_id=actor.user_id, reviewer=actor.name, verdict=verdict,
                comment=comment, reviewed_at=utcnow())
    session.add(rv)
    session.flush()
    record(session, actor=actor, action=Action.AUDIT_REVIEW, target_type="audit_event", target_id=ev.id,
           zone=ev.zone, details={"verdict": verdict, "comment": comment, "event_seq": ev.seq})
    return rv


def do_register_witness_key(session: Session, *, public_pem: str, suite: str, actor: Actor) -> AuditKey:
    """A supervisor registers the public half of the key they countersign checkpoints with."""
    pub = PublicKey(suite, public_pem.strip().encode() + b"\n")
    try:
        get_suite(suite)
        key_id = pub.key_id  # parses the key
    except Exception as e:
        raise Invalid("公钥格式无效", "not a public key of this suite", code="invalid_public_key") from e
    existing = session.get(AuditKey, key_id)
    if existing is not None and (existing.role != "witness" or existing.user_id != actor.user_id):
        raise Forbidden("该公钥已属于他人", "this key belongs to someone else", code="key_taken")
    key = register_key(session, pub, role="witness", user_id=actor.user_id)
    record(session, actor=actor, action=Action.AUDIT_WITNESS_KEY, target_type="audit_key", target_id=key_id)
    return key


def do_cosign(session: Session, checkpoint_id: int, *, key_id: str, signature_hex: str,
              actor: Actor) -> Cosignature:
    """Store a supervisor's countersignature after checking it against their registered key."""
    cp = session.get(Checkpoint, checkpoint_id)
    if cp is None:
        raise NotFound("找不到该检查点", "no such checkpoint", code="checkpoint_not_found")
    key = session.get(AuditKey, key_id)
    if key is None or key.role != "witness" or key.user_id != actor.user_id:
        raise Forbidden("须使用本人登记的见证公钥", "use a witness key registered to you", code="not_your_key")
    try:
        sig = bytes.fromhex(signature_hex)
    except ValueError as e:
        raise Invalid("签名须为十六进制", "the signature must be hex", code="invalid_signature") from e
    if not PublicKey(key.suite, key.public_pem.encode()).verify(sig, cp.body.encode()):
        raise Invalid("会签签名验证失败", "the countersignature does not verify", code="invalid_signature")
    co = Cosignature(checkpoint_id=cp.id, key_id=key_id, user_id=actor.user_id, signature=sig, signed_at=utcnow())
    session.add(co)
    session.flush()
    record(session, actor=actor, action=Action.AUDIT_COSIGN, target_type="checkpoint", target_id=cp.id,
           details={"tree_size": cp.tree_size, "key_id": key_id})
    return co
