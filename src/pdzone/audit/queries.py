"""Reading the operation log, scoped to the zones the reader may see."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from pdzone.audit.encoding import fmt_time
from pdzone.audit.models import AuditEvent, Checkpoint, Cosignature, DenialWindow, Review


def scoped(q: Select, zones: set[str | None]) -> Select:
    """None in `zones` means every zone and the city level; otherwise only those zones' events."""
    if None in zones:
        return q
    return q.where(AuditEvent.zone.in_([z for z in zones if z]))


def list_events(session: Session, zones: set[str | None], *, limit: int = 100, before_id: int | None = None,
                action: str | None = None, outcome: str | None = None, actor: str | None = None,
                zone: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                unreviewed: bool = False) -> list[AuditEvent]:
    q = scoped(select(AuditEvent), zones)
    if before_id:
        q = q.where(AuditEvent.id < before_id)
    if action:
        q = q.where(AuditEvent.action.startswith(action))
    if outcome:
        q = q.where(AuditEvent.outcome == outcome)
    if actor:
        q = q.where(AuditEvent.actor.contains(actor))
    if zone:
        q = q.where(AuditEvent.zone == zone)
    if since:
        q = q.where(AuditEvent.occurred_at >= since)
    if until:
        q = q.where(AuditEvent.occurred_at < until)
    if unreviewed:
        q = q.where(~select(Review.id).where(Review.event_id == AuditEvent.id).exists())
    return list(session.scalars(q.order_by(AuditEvent.id.desc()).limit(limit)))


def reviews_for(session: Session, event_ids: list[int]) -> dict[int, list[Review]]:
    out: dict[int, list[Review]] = {}
    if event_ids:
        for r in session.scalars(select(Review).where(Review.event_id.in_(event_ids)).order_by(Review.id)):
            out.setdefault(r.event_id, []).append(r)
    return out


def denial_windows(session: Session, event_ids: list[int]) -> dict[int, DenialWindow]:
    """The aggregation window each of these events opened (the first denial of a repeated series)."""
    if not event_ids:
        return {}
    return {w.first_event_id: w for w in session.scalars(
        select(DenialWindow).where(DenialWindow.first_event_id.in_(event_ids)))}


def denial_counts(session: Session, event_ids: list[int]) -> dict[int, int]:
    """How many denials each of these events stands for (only those that opened a window)."""
    return {eid: w.count for eid, w in denial_windows(session, event_ids).items()}


def event_json(ev: AuditEvent, reviews: list[Review] | None = None, window: DenialWindow | None = None) -> dict:
    """An event as the API gives it; `denials` (count, window) on the first of repeated denials."""
    out = {"id": ev.id, "seq": ev.seq, "time": fmt_time(ev.occurred_at), "actor": ev.actor,
            "actor_user_id": ev.actor_user_id, "actor_org_id": ev.actor_org_id, "token_id": ev.token_id,
            "zone": ev.zone, "action": ev.action, "target_type": ev.target_type, "target_id": ev.target_id,
            "outcome": ev.outcome, "source_ip": ev.source_ip, "request_id": ev.request_id,
            "details": json.loads(ev.details),
            "reviews": [{"reviewer": r.reviewer, "verdict": r.verdict, "comment": r.comment,
                         "time": fmt_time(r.reviewed_at)} for r in (reviews or [])]}
    if window is not None:
        out["denials"] = {"count": window.count, "window_start": fmt_time(window.window_start),
                          "window_s": window.window_s, "closed": window.summarized_at is not None}
    return out


def count_events(session: Session, zones: set[str | None]) -> int:
    return session.scalar(scoped(select(func.count(AuditEvent.id)), zones)) or 0


def list_checkpoints(session: Session, limit: int = 50) -> list[tuple[Checkpoint, list[Cosignature]]]:
    cps = list(session.scalars(select(Checkpoint).order_by(Checkpoint.tree_size.desc(), Checkpoint.id.desc())
                               .limit(limit)))
    cos: dict[int, list[Cosignature]] = {}
    if cps:
        for c in session.scalars(select(Cosignature).where(Cosignature.checkpoint_id.in_([c.id for c in cps]))):
            cos.setdefault(c.checkpoint_id, []).append(c)
    return [(c, cos.get(c.id, [])) for c in cps]
