"""Export bundles: events + checkpoints + public keys, verifiable offline (`pdzone audit verify --bundle`).

A bundle for one zone carries that zone's events in full and every other event as its leaf
hash only, so a zone supervisor can check the whole tree without reading other zones' events.
"""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from pdzone.audit.encoding import event_dict
from pdzone.audit.log import EVENT_COLUMNS, checkpoint_document
from pdzone.audit.models import AuditEvent, AuditKey, AuditLogState, AuditNode, Checkpoint, Cosignature


def build_bundle(session: Session, *, zone: str | None = None, origin: str = "pdzone") -> dict:
    """The whole integrated log; with `zone`, events of other zones (and city-level ones) as hashes."""
    st = session.get(AuditLogState, 1)
    size = st.tree_size if st else 0
    e, n = AuditEvent.__table__, AuditNode.__table__
    q = (select(*EVENT_COLUMNS, n.c.hash.label("leaf"))
         .select_from(e.outerjoin(n, and_(n.c.level == 0, n.c.idx == e.c.seq)))
         .where(e.c.seq.is_not(None), e.c.seq < size).order_by(e.c.seq))
    events = []
    for row in session.execute(q).mappings():
        if zone is None or row["zone"] == zone:
            events.append(event_dict(row))
        else:
            events.append({"seq": row["seq"], "leaf_hash": bytes(row["leaf"]).hex()})
    cps = session.scalars(select(Checkpoint).where(Checkpoint.tree_size <= size)
                          .order_by(Checkpoint.tree_size)).all()
    docs = [checkpoint_document(session, c) for c in cps]
    for d in docs:
        d.pop("public_key")
    cos = session.scalars(select(Cosignature).where(Cosignature.checkpoint_id.in_([c.id for c in cps]))).all()
    keys = session.scalars(select(AuditKey)).all()
    return {
        "format": "pdzone-audit-bundle-v1", "origin": origin, "suite": st.suite if st else "gm",
        "zone": zone, "tree_size": size, "events": events, "checkpoints": docs,
        "cosignatures": [{"checkpoint_id": c.checkpoint_id, "key_id": c.key_id, "signature": c.signature.hex()}
                         for c in cos],
        "keys": [{"key_id": k.key_id, "suite": k.suite, "public_pem": k.public_pem, "role": k.role}
                 for k in keys],
    }
