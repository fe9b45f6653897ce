"""Background jobs in the console: a job's page (/console/jobs/{id}) with its status and progress, refreshed by a
small local script while it runs, then a link to what it made or the error that stopped it.

A job is shown to the person who queued it and to those who may do the same work in its zone (for an import:
filed operator staff of that zone); to anyone else it does not exist (404, as for a dataset of another zone).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from pdzone import jobs
from pdzone.catalog import access
from pdzone.catalog import tasks as catalog_tasks
from pdzone.governance import actions as gov
from pdzone.identity.roles import Perm
from pdzone.jobs.models import Job, JobStatus
from pdzone.jobs.queries import not_found
from pdzone.web import i18n
from pdzone.web.console.base import ConsoleRoute, env, page_ctx, render
from pdzone.web.context import I64, Ctx

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

JobId = Annotated[int, Path(ge=1, le=I64)]

#: Who besides its creator sees a job of each kind: whoever may do that work in the job's zone.
VIEWERS: dict[str, Perm] = {catalog_tasks.IMPORT: Perm.DATASET_IMPORT}

_BADGE = {JobStatus.QUEUED: "grey", JobStatus.RUNNING: "amber", JobStatus.SUCCEEDED: "green",
          JobStatus.FAILED: "red"}


def can_see(s: Session, ctx: Ctx, job: Job) -> bool:
    p = ctx.principal
    if job.created_by_user_id is not None and job.created_by_user_id == p.user_id:
        return True
    perm = VIEWERS.get(job.kind)
    return perm is not None and job.zone_code is not None and access.allowed(s, p, perm, job.zone_code) is None


def _visible(ctx: Ctx, s: Session, job_id: int) -> Job:
    job = s.get(Job, job_id)
    if job is None or not can_see(s, ctx, job):
        raise not_found(job_id)
    return job


def error_where(lang: str, details: dict) -> list[str]:
    """Where a bad file went wrong (line, column, byte, columns), as the import page and the job page say it."""
    where = []
    for key in ("line", "column", "byte_offset"):
        if isinstance(details.get(key), int) and not isinstance(details.get(key), bool):
            where.append(i18n.t(lang, f"import.where.{key}", n=details[key]))
    if details.get("columns"):
        where.append(i18n.t(lang, "import.where.columns", names="、".join(map(str, details["columns"]))))
    return where


def _status(lang: str, doc: dict) -> dict:
    """The part of a job's state that changes while it runs (the page, and its script's polls)."""
    return {"id": doc["id"], "status": doc["status"], "status_text": i18n.t(lang, f"job.status.{doc['status']}"),
            "badge": _BADGE.get(doc["status"], "grey"), "done": doc["done"],
            "percent": round((doc["progress"] or 0) * 100), "step": doc["message"],
            "step_text": i18n.job_step_name(lang, doc["message"]) if doc["message"] else ""}


def _link(doc: dict) -> str | None:
    """Where a finished job's result lives (the imported dataset's page, with the import's next step)."""
    result = doc["result"] or {}
    if doc["status"] != JobStatus.SUCCEEDED or doc["kind"] != catalog_tasks.IMPORT or not result.get("dataset"):
        return None
    return f"/catalog/{result['dataset']}?ok=" + ("imported" if result.get("scanned") else "imported_unscanned")


@router.get("/console/jobs/{job_id}")
def job_page(request: Request, job_id: JobId, ok: str | None = None, ctx: Ctx = Depends(page_ctx)):
    lang = ctx.lang
    with ctx.rt.store.sessions() as s:
        doc = jobs.job_json(_visible(ctx, s, job_id))
        zone_names = {z.code: z.name for z in gov.list_zones(s)}
    error = doc["error"]
    return render(request, "console/job.html", ctx=ctx, ok=None if doc["done"] else ok, page=f"/console/jobs/{job_id}",
                  job=doc,
                  state=_status(lang, doc), link=_link(doc), zone_names=zone_names,
                  error=(error["en"] if lang == "en" else error["zh"]) if error else None,
                  error_where=error_where(lang, error["details"]) if error else [])


@router.get("/console/jobs/{job_id}/status")
def job_status(job_id: JobId, ctx: Ctx = Depends(page_ctx)):
    """The job's state as JSON, for the page's script (same visibility as the page)."""
    with ctx.rt.store.sessions() as s:
        doc = jobs.job_json(_visible(ctx, s, job_id))
    return JSONResponse(_status(ctx.lang, doc), headers={"Cache-Control": "no-store"})


env.globals.update(job_kind_name=i18n.job_kind_name)
