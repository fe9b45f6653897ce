"""Background jobs over the API: the state of a job (an import queued by `POST /api/v1/datasets`).

A job is shown to whoever queued it and to those who may do the same work in its zone (the console's rule,
`console/jobs.can_see`); to anyone else it does not exist (404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from pdzone import jobs
from pdzone.jobs.queries import not_found
from pdzone.web.console.jobs import can_see
from pdzone.web.context import I64, Ctx, api_ctx

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}")
def job_status(job_id: Annotated[int, Path(ge=1, le=I64)], response: Response, ctx: Ctx = Depends(api_ctx)):
    """The job's status (`queued`, `running`, `succeeded`, `failed`), progress (0..1) and current step; when it
    has succeeded, its `result` (an import: `{"dataset": name, "scanned": bool}`), when it has failed, its
    `error` (`code`, `zh`, `en`, `details`: for a bad file the line or column)."""
    with ctx.rt.store.sessions() as s:
        job = s.get(jobs.Job, job_id)
        if job is None or not can_see(s, ctx, job):
            raise not_found(job_id)
        doc = jobs.job_json(job)
    keep = ("id", "kind", "zone", "status", "done", "progress", "message", "result", "error", "created_by",
            "attempts", "created_at", "started_at", "finished_at")
    response.headers["Cache-Control"] = "no-store"
    return {k: doc[k] for k in keep}
