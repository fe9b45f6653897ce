"""Queue writes: enqueue (audited), claim, heartbeat and progress, finish, fail, and re-queue stale runs.

A run is fenced by the job's `attempts` counter: the worker that claimed attempt n may report progress on
the job and finish it only while the row still says running/attempt n. A worker that was presumed dead
(its heartbeat went stale, the job was re-queued and claimed again) therefore cannot overwrite the newer
run's state.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pdzone.audit.events import Action, Actor, canonical_json, record
from pdzone.db import Store, utcnow
from pdzone.errors import PdzoneError
from pdzone.jobs.models import Job, JobStatus

ABANDONED = ("后台任务的执行进程多次中断，任务已放弃，请重新提交",
             "the job's worker stopped too many times; the job was given up: submit it again")


@dataclass(frozen=True)
class Claim:
    """One run of a job, as its worker holds it: enough to run the handler without a database session."""

    id: int
    kind: str
    zone: str | None
    payload: dict[str, Any]
    actor: Actor
    attempt: int
    files: tuple[str, ...] = field(default=())


def enqueue(session: Session, *, kind: str, actor: Actor, payload: dict[str, Any] | None = None,
            zone: str | None = None, files: Iterable[str] = (), details: dict[str, Any] | None = None) -> Job:
    """Queue a job in the caller's transaction, with its audit event; the caller commits once.

    `files` names spooled files (see `pdzone.jobs.spool`) the job owns: they are removed when the job ends.
    """
    doc = dict(payload or {})
    doc["spool"] = list(files)
    job = Job(kind=kind, zone_code=zone, status=JobStatus.QUEUED.value, progress=0.0, message="",
              payload=canonical_json(doc), created_by=actor.name, created_by_user_id=actor.user_id,
              actor=canonical_json(asdict(actor)), attempts=0, created_at=utcnow())
    session.add(job)
    session.flush()
    record(session, actor=actor, action=Action.JOB_ENQUEUE, target_type="job", target_id=job.id, zone=zone,
           details={"kind": kind, **(details or {})})
    return job


def _own(claim: Claim):
    return (Job.id == claim.id, Job.status == JobStatus.RUNNING.value, Job.attempts == claim.attempt)


def claim(store: Store, *, worker: str, kinds: Iterable[str]) -> Claim | None:
    """Take the oldest queued job of one of `kinds` for this worker, or None when there is none.

    Safe with any number of workers on both databases: on PostgreSQL the candidate row is locked with
    FOR UPDATE SKIP LOCKED (another worker skips it), and on both the UPDATE only takes a row that is still
    queued, so two workers never run the same attempt.
    """
    kinds = sorted(set(kinds))
    if not kinds:
        return None
    waiting = select(Job.id).where(Job.status == JobStatus.QUEUED.value, Job.kind.in_(kinds))
    with store.sessions() as s:  # a read first: an idle queue costs no write lock on SQLite
        if s.scalar(waiting.limit(1)) is None:
            return None
    for _ in range(20):
        with store.transaction() as s:
            job_id = s.scalar(waiting.order_by(Job.id).limit(1).with_for_update(skip_locked=True))
            if job_id is None:
                return None
            now = utcnow()
            taken = s.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED.value)
                              .values(status=JobStatus.RUNNING.value, attempts=Job.attempts + 1, started_at=now,
                                      heartbeat_at=now, worker=worker[:200], progress=0.0, message="")
                              .execution_options(synchronize_session=False)).rowcount
            if taken == 1:
                job = s.execute(select(Job.kind, Job.zone_code, Job.payload, Job.actor, Job.attempts)
                                .where(Job.id == job_id)).one()
                payload = json.loads(job.payload)
                return Claim(id=job_id, kind=job.kind, zone=job.zone_code, payload=payload,
                             actor=Actor(**json.loads(job.actor)), attempt=job.attempts,
                             files=tuple(payload.get("spool", ())))
        # another worker took it between our read and our update: look again
    return None


def touch(store: Store, claim: Claim, *, progress: float | None = None, message: str | None = None) -> bool:
    """Heartbeat, with the latest progress; False when this run no longer owns the job."""
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = min(1.0, max(0.0, float(progress)))
    if message is not None:
        values["message"] = message[:200]
    with store.transaction() as s:
        return s.execute(update(Job).where(*_own(claim)).values(**values)
                         .execution_options(synchronize_session=False)).rowcount == 1


def finish(store: Store, claim: Claim, result: dict[str, Any] | None = None) -> bool:
    now = utcnow()
    with store.transaction() as s:
        return s.execute(update(Job).where(*_own(claim)).values(
            status=JobStatus.SUCCEEDED.value, progress=1.0, message="done", result=canonical_json(result or {}),
            heartbeat_at=now, finished_at=now).execution_options(synchronize_session=False)).rowcount == 1


def fail(store: Store, claim: Claim, error: PdzoneError) -> bool:
    """The job failed with a domain error; its codes and messages are what the job page shows."""
    now = utcnow()
    with store.transaction() as s:
        return s.execute(update(Job).where(*_own(claim)).values(
            status=JobStatus.FAILED.value, message="failed", error_code=error.code[:64], error_zh=error.zh,
            error_en=error.en, error_details=canonical_json(error.details), heartbeat_at=now, finished_at=now)
            .execution_options(synchronize_session=False)).rowcount == 1


def requeue_stale(store: Store, *, stale_after_s: float, max_attempts: int,
                  now: dt.datetime | None = None) -> tuple[list[int], list[Claim]]:
    """Running jobs whose heartbeat is older than `stale_after_s`: their worker stopped (a crash, a restart).

    Each goes back to the queue, or, after `max_attempts` runs, fails with `job_abandoned`. Returns the ids
    re-queued and the abandoned jobs (whose files the caller removes).
    """
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=stale_after_s)
    stale = (Job.status == JobStatus.RUNNING.value, Job.heartbeat_at < cutoff)
    with store.sessions() as s:
        if s.scalar(select(Job.id).where(*stale).limit(1)) is None:
            return [], []
    requeued, abandoned = [], []
    with store.transaction() as s:
        rows = s.execute(select(Job.id, Job.kind, Job.zone_code, Job.payload, Job.actor, Job.attempts)
                         .where(*stale).order_by(Job.id).with_for_update(skip_locked=True)).all()
        for row in rows:
            this = (Job.id == row.id, *stale, Job.attempts == row.attempts)
            if row.attempts < max_attempts:
                n = s.execute(update(Job).where(*this).values(
                    status=JobStatus.QUEUED.value, progress=0.0, message="requeued", worker=None, heartbeat_at=None)
                    .execution_options(synchronize_session=False)).rowcount
                if n:
                    requeued.append(row.id)
                continue
            n = s.execute(update(Job).where(*this).values(
                status=JobStatus.FAILED.value, message="failed", error_code="job_abandoned", error_zh=ABANDONED[0],
                error_en=ABANDONED[1], error_details=canonical_json({"attempts": row.attempts}), finished_at=now)
                .execution_options(synchronize_session=False)).rowcount
            if n:
                payload = json.loads(row.payload)
                abandoned.append(Claim(id=row.id, kind=row.kind, zone=row.zone_code, payload=payload,
                                       actor=Actor(**json.loads(row.actor)), attempt=row.attempts,
                                       files=tuple(payload.get("spool", ()))))
    return requeued, abandoned
