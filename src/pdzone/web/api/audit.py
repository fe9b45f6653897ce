"""The operation log: events, review, checkpoints, countersignatures, proofs, export (R-21.2, R-31)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from pdzone.audit import actions as aa
from pdzone.audit import log as alog
from pdzone.audit import queries as aq
from pdzone.audit.events import Action, record
from pdzone.audit.export import build_bundle
from pdzone.errors import Forbidden, NotFound
from pdzone.identity.roles import Perm
from pdzone.web.context import I64, Ctx, api_ctx

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/events")
def events(limit: int = Query(100, ge=1, le=1000), before_id: int | None = Query(None, ge=1, le=I64),
           action: str | None = Query(None, max_length=100), outcome: str | None = Query(None, max_length=10),
           actor: str | None = Query(None, max_length=200), zone: str | None = Query(None, max_length=64),
           unreviewed: bool = False, ctx: Ctx = Depends(api_ctx)):
    """Events, newest first, limited to the zones the caller may read (auditor, supervisor)."""
    zones = ctx.require_any(Perm.AUDIT_READ)
    with ctx.rt.store.sessions() as s:
        evs = aq.list_events(s, zones, limit=limit, before_id=before_id, action=action, outcome=outcome,
                             actor=actor, zone=zone, unreviewed=unreviewed)
        reviews = aq.reviews_for(s, [e.id for e in evs])
        windows = aq.denial_windows(s, [e.id for e in evs])
        return {"events": [aq.event_json(e, reviews.get(e.id), windows.get(e.id)) for e in evs],
                "tree_size": alog.tree_size(s)}


class ReviewIn(BaseModel):
    verdict: str = Field(pattern="^(ok|concern)$")
    comment: str = Field(min_length=1, max_length=2000)


@router.post("/events/{event_id}/reviews", status_code=201)
def review(event_id: Annotated[int, Path(ge=1, le=I64)], body: ReviewIn, ctx: Ctx = Depends(api_ctx)):
    zones = ctx.require_any(Perm.AUDIT_REVIEW)
    with ctx.rt.store.transaction() as s:
        rv = aa.do_review(s, event_id, verdict=body.verdict, comment=body.comment, actor=ctx.actor,
                          visible_zones=zones)
        return {"id": rv.id, "event_id": rv.event_id, "verdict": rv.verdict, "comment": rv.comment}


@router.get("/checkpoint")
def latest_checkpoint(ctx: Ctx = Depends(api_ctx)):
    """The latest signed checkpoint, in the form to keep outside the platform."""
    ctx.log_reader_zones()
    with ctx.rt.store.sessions() as s:
        return alog.latest_checkpoint_document(s)


@router.get("/checkpoints")
def checkpoints(limit: int = Query(50, ge=1, le=500), ctx: Ctx = Depends(api_ctx)):
    ctx.log_reader_zones()
    with ctx.rt.store.sessions() as s:
        return [{**alog.checkpoint_document(s, c),
                 "cosignatures": [{"key_id": x.key_id, "user_id": x.user_id, "signature": x.signature.hex(),
                                   "signed_at": x.signed_at} for x in cos]}
                for c, cos in aq.list_checkpoints(s, limit)]


@router.post("/checkpoints", status_code=201)
def issue_checkpoint(ctx: Ctx = Depends(api_ctx)):
    """Integrate pending events and sign a checkpoint now (on demand)."""
    ctx.log_reader_zones()
    _, cp = ctx.rt.maintain_log(force_checkpoint=True)
    with ctx.rt.store.sessions() as s:
        cp = cp or alog.latest_checkpoint(s)
        if cp is None:
            raise NotFound("日志为空，无法签发检查点", "the log is empty", code="checkpoint_not_found")
        return alog.checkpoint_document(s, cp)


class WitnessKeyIn(BaseModel):
    public_pem: str = Field(min_length=50, max_length=2000)
    suite: str = Field(default="gm", pattern="^(gm|intl)$")


@router.post("/witness-keys", status_code=201)
def register_witness_key(body: WitnessKeyIn, ctx: Ctx = Depends(api_ctx)):
    ctx.require_any(Perm.CHECKPOINT_COSIGN)
    with ctx.rt.store.transaction() as s:
        k = aa.do_register_witness_key(s, public_pem=body.public_pem, suite=body.suite, actor=ctx.actor)
        return {"key_id": k.key_id, "suite": k.suite}


class CosignIn(BaseModel):
    key_id: str = Field(max_length=64)
    signature: str = Field(max_length=1000)


@router.post("/checkpoints/{checkpoint_id}/cosignatures", status_code=201)
def cosign(checkpoint_id: Annotated[int, Path(ge=1, le=I64)], body: CosignIn, ctx: Ctx = Depends(api_ctx)):
    """A supervisor countersigns (witnesses) a checkpoint with their own key."""
    ctx.require_any(Perm.CHECKPOINT_COSIGN)
    with ctx.rt.store.transaction() as s:
        co = aa.do_cosign(s, checkpoint_id, key_id=body.key_id, signature_hex=body.signature, actor=ctx.actor)
        return {"id": co.id, "checkpoint_id": co.checkpoint_id, "key_id": co.key_id}


@router.get("/events/{seq}/proof")
def inclusion_proof(seq: Annotated[int, Path(ge=0, le=I64)], tree_size: int | None = Query(None, ge=1, le=I64),
                    ctx: Ctx = Depends(api_ctx)):
    """RFC 9162 inclusion proof of the event at `seq` in the tree of `tree_size` (default: latest)."""
    ctx.log_reader_zones()
    with ctx.rt.store.sessions() as s:
        size = tree_size or alog.tree_size(s)
        return alog.inclusion_proof(s, ctx.rt.log_suite, seq, size)


@router.get("/consistency")
def consistency(first: int = Query(ge=1, le=I64), second: int = Query(ge=1, le=I64), ctx: Ctx = Depends(api_ctx)):
    """RFC 9162 consistency proof between tree sizes `first` and `second`."""
    ctx.log_reader_zones()
    with ctx.rt.store.sessions() as s:
        return alog.consistency_proof(s, ctx.rt.log_suite, first, second)


@router.get("/export")
def export(zone: str | None = Query(None, max_length=64), ctx: Ctx = Depends(api_ctx)):
    """An offline-verifiable bundle. Zone-scoped readers get other zones' events as hashes only."""
    zones = ctx.log_reader_zones()
    if None not in zones and (zone is None or zone not in zones):
        if len(zones) != 1 or zone is not None:
            raise Forbidden("只能导出本专区的日志", "you may export only your zone's log", code="forbidden")
        zone = next(iter(zones))
    with ctx.rt.store.transaction() as s:
        record(s, actor=ctx.actor, action=Action.AUDIT_EXPORT, zone=zone, details={"zone": zone})
    with ctx.rt.store.sessions() as s:
        return build_bundle(s, zone=zone, origin=ctx.rt.settings.deployment_name)
