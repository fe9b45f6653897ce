"""The operation log (操作日志): events with filters, review (审查), on-demand verification,
signed checkpoints with countersignatures (会签), and proof downloads. R-21.2, R-31."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from pdzone.audit import actions as aa
from pdzone.audit import log as alog
from pdzone.audit import queries as aq
from pdzone.audit.verify import VerifyResult, verify_store
from pdzone.errors import PdzoneError
from pdzone.governance import actions as gov
from pdzone.identity import queries as idq
from pdzone.identity.roles import Perm
from pdzone.web.console.base import ConsoleRoute, note_refusal, page_ctx, post_ctx, render, see_other
from pdzone.web.context import I64, Ctx

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PAGE = 100
FILTER_KEYS = ("action", "outcome", "actor", "zone", "unreviewed", "before")
OUTCOMES = ("success", "denied", "failed")
Back = Annotated[str, Form(max_length=1000)]


def _filters(pairs) -> dict[str, str]:
    """The known, well-formed log filters among query pairs (anything else is dropped)."""
    f = {k: v.strip()[:200] for k, v in pairs if k in FILTER_KEYS and v.strip()}
    if f.get("outcome") not in OUTCOMES:
        f.pop("outcome", None)
    if not f.get("before", "").isdigit() or not 0 < int(f["before"]) <= I64:
        f.pop("before", None)
    if "unreviewed" in f:
        f["unreviewed"] = "1"
    return f


def _download(doc: dict, filename: str) -> Response:
    body = json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n"
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


# --- events --------------------------------------------------------------------------------

def _log(request: Request, ctx: Ctx, f: dict[str, str], *, status: int = 200, ok: str | None = None,
         verify: VerifyResult | None = None, review_error: tuple[int, str] | None = None):
    zones = ctx.require_any(Perm.AUDIT_READ)
    with ctx.rt.store.sessions() as s:
        evs = aq.list_events(s, zones, limit=PAGE, before_id=int(f["before"]) if "before" in f else None,
                             action=f.get("action"), outcome=f.get("outcome"), actor=f.get("actor"),
                             zone=f.get("zone"), unreviewed="unreviewed" in f)
        reviews = aq.reviews_for(s, [e.id for e in evs])
        windows = aq.denial_windows(s, [e.id for e in evs])
        events = [aq.event_json(e, reviews.get(e.id), windows.get(e.id)) for e in evs]
        size = alog.tree_size(s)
        zone_names = {z.code: z.name for z in gov.list_zones(s) if None in zones or z.code in zones}
    for ev in events:
        ev["details_text"] = json.dumps(ev["details"], ensure_ascii=False, indent=1, default=str)
    kept = {k: v for k, v in f.items() if k != "before"}
    query = urlencode(kept)
    older = "/log?" + urlencode({**kept, "before": str(evs[-1].id)}) if len(evs) == PAGE else None
    return render(request, "console/oplog.html", ctx=ctx, status=status, ok=ok, page="/log?" + query if query
                  else "/log", f=f, back=query, events=events, tree_size=size, zone_names=zone_names,
                  scope_all=None in zones, outcomes=OUTCOMES, older=older, verify=verify,
                  can_review=bool(ctx.principal.zones_with(Perm.AUDIT_REVIEW)), review_error=review_error)


@router.get("/log")
def operation_log(request: Request, ok: str | None = None, ctx: Ctx = Depends(page_ctx)):
    return _log(request, ctx, _filters(request.query_params.multi_items()), ok=ok)


@router.post("/log/verify")
def verify_now(request: Request, back: Back = "", ctx: Ctx = Depends(post_ctx)):
    """Recompute the whole log and check it against every signed checkpoint (like `pdzone audit verify`)."""
    ctx.require_any(Perm.AUDIT_READ)
    return _log(request, ctx, _filters(parse_qsl(back)),
                verify=verify_store(ctx.rt.store, trusted_keys=ctx.rt.trusted_platform_keys(),
                                    clock_tolerance_s=ctx.rt.settings.audit_clock_tolerance_s))


@router.post("/log/reviews")
def review_event(request: Request, event_id: Annotated[int, Form(ge=1, le=I64)],
                 verdict: Annotated[str, Form(max_length=20)] = "", comment: Annotated[str, Form(max_length=2000)] = "",
                 back: Back = "", ctx: Ctx = Depends(post_ctx)):
    """Mark an event reviewed with a verdict and a comment (auditors)."""
    zones = ctx.require_any(Perm.AUDIT_REVIEW)
    f = _filters(parse_qsl(back))
    try:
        with ctx.rt.store.transaction() as s:
            aa.do_review(s, event_id, verdict=verdict, comment=comment, actor=ctx.actor, visible_zones=zones)
    except PdzoneError as e:
        note_refusal(request, e)
        return _log(request, ctx, f, status=e.status, review_error=(event_id, e.message(ctx.lang)))
    return see_other("/log", **{k: v for k, v in f.items() if k != "before"}, ok="reviewed")


@router.get("/log/proof")
def inclusion_proof(seq: Annotated[int, Query(ge=0, le=I64)], ctx: Ctx = Depends(page_ctx)):
    """RFC 9162 inclusion proof of the event at `seq` in the current tree, as a file."""
    ctx.log_reader_zones()
    suite = ctx.rt.log_suite
    with ctx.rt.store.sessions() as s:
        doc = alog.inclusion_proof(s, suite, seq, alog.tree_size(s))
    return _download({"format": "pdzone-inclusion-proof-v1", **doc},
                     f"pdzone-inclusion-proof-{seq}-{doc['tree_size']}.json")


# --- checkpoints ---------------------------------------------------------------------------

def _checkpoints(request: Request, ctx: Ctx, *, status: int = 200, ok: str | None = None,
                 cosign_error: tuple[int, str] | None = None, key_error: str | None = None,
                 key_id: str | None = None):
    ctx.log_reader_zones()
    me = ctx.principal.user_id
    with ctx.rt.store.sessions() as s:
        who = {u.id: f"{u.real_name}（{u.username}）" for u in idq.list_users(s)}
        cps = [{**alog.checkpoint_document(s, c), "mine": any(x.user_id == me for x in cos),
                "cosignatures": [{"who": who.get(x.user_id or 0, "?"), "key_id": x.key_id, "time": x.signed_at}
                                 for x in cos]}
               for c, cos in aq.list_checkpoints(s, 50)]
    return render(request, "console/checkpoints.html", ctx=ctx, status=status, ok=ok, page="/checkpoints",
                  checkpoints=cps, can_cosign=bool(ctx.principal.zones_with(Perm.CHECKPOINT_COSIGN)),
                  cosign_error=cosign_error, key_error=key_error, key_id=key_id)


@router.get("/checkpoints")
def checkpoints(request: Request, ok: str | None = None, ctx: Ctx = Depends(page_ctx)):
    return _checkpoints(request, ctx, ok=ok)


@router.get("/checkpoints/latest.json")
def latest_checkpoint(ctx: Ctx = Depends(page_ctx)):
    """The latest signed checkpoint, to keep outside the platform."""
    ctx.log_reader_zones()
    with ctx.rt.store.sessions() as s:
        doc = alog.latest_checkpoint_document(s)
    return _download(doc, f"pdzone-checkpoint-{doc['tree_size']}.json")


@router.post("/checkpoints/cosign")
def cosign(request: Request, checkpoint_id: Annotated[int, Form(ge=1, le=I64)],
           key_id: Annotated[str, Form(max_length=64)] = "", signature: Annotated[str, Form(max_length=1000)] = "",
           ctx: Ctx = Depends(post_ctx)):
    """A supervisor countersigns (会签) a checkpoint with their registered witness key."""
    ctx.require_any(Perm.CHECKPOINT_COSIGN)
    try:
        with ctx.rt.store.transaction() as s:
            aa.do_cosign(s, checkpoint_id, key_id=key_id.strip(), signature_hex=signature.strip(), actor=ctx.actor)
    except PdzoneError as e:
        note_refusal(request, e)
        return _checkpoints(request, ctx, status=e.status, cosign_error=(checkpoint_id, e.message(ctx.lang)))
    return see_other("/checkpoints", ok="cosigned")


@router.post("/checkpoints/witness-key")
def register_witness_key(request: Request, public_pem: Annotated[str, Form(max_length=2000)] = "",
                         suite: Annotated[str, Form(pattern="^(gm|intl)$")] = "gm", ctx: Ctx = Depends(post_ctx)):
    ctx.require_any(Perm.CHECKPOINT_COSIGN)
    try:
        with ctx.rt.store.transaction() as s:
            key = aa.do_register_witness_key(s, public_pem=public_pem, suite=suite, actor=ctx.actor)
            key_id = key.key_id
    except PdzoneError as e:
        note_refusal(request, e)
        return _checkpoints(request, ctx, status=e.status, key_error=e.message(ctx.lang))
    return _checkpoints(request, ctx, key_id=key_id)
