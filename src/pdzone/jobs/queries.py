"""Reading the queue. Who may see a job is the caller's decision (the web layer knows the roles)."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from pdzone.errors import NotFound
from pdzone.jobs.models import FINISHED, Job


def not_found(job_id: object) -> NotFound:
    return NotFound(f"找不到后台任务：{job_id}", f"no job {job_id}", code="job_not_found")


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise not_found(job_id)
    return job


def job_json(job: Job) -> dict:
    """A job's state for pages and the CLI. The payload's spooled file names stay inside."""
    payload = {k: v for k, v in json.loads(job.payload or "{}").items() if k != "spool"}
    error = None
    if job.error_code:
        error = {"code": job.error_code, "zh": job.error_zh, "en": job.error_en,
                 "details": json.loads(job.error_details or "{}")}
    return {"id": job.id, "kind": job.kind, "zone": job.zone_code, "status": job.status,
            "done": job.status in FINISHED, "progress": job.progress, "message": job.message, "payload": payload,
            "result": json.loads(job.result) if job.result else None, "error": error,
            "created_by": job.created_by, "created_by_user_id": job.created_by_user_id, "worker": job.worker,
            "attempts": job.attempts, "created_at": job.created_at, "started_at": job.started_at,
            "heartbeat_at": job.heartbeat_at, "finished_at": job.finished_at}
