"""The catalog over the API (a dataset is addressed by its name). Metadata only: values leave through
the egress gate."""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from pdzone.catalog import access, tasks
from pdzone.catalog import actions as cat
from pdzone.catalog import queries as cq
from pdzone.catalog.importing import Limits
from pdzone.egress import gate
from pdzone.errors import NotFound
from pdzone.identity.roles import Perm
from pdzone.jobs import spool
from pdzone.web.context import Ctx, api_ctx
from pdzone.web.upload import receive_upload

router = APIRouter(prefix="/datasets", tags=["catalog"])


def _visible(ctx: Ctx, s, name: str):
    ds = cat.find_dataset(s, name)
    zones = access.visible_zones(ctx.principal)
    if None not in zones and ds.zone_code not in zones:
        raise NotFound(f"找不到数据集：{name}", f"no dataset named {name}", code="dataset_not_found")
    return ds


@router.get("")
def list_datasets(zone: str | None = Query(None, max_length=64), level: int | None = Query(None, ge=1, le=4),
                  sector: str | None = Query(None, max_length=30), q: str | None = Query(None, max_length=100),
                  ctx: Ctx = Depends(api_ctx)):
    """Search and filter the catalog (zones the caller works in)."""
    zones = ctx.require_any(Perm.CATALOG_READ)
    with ctx.rt.store.sessions() as s:
        rows = cq.list_datasets(s, zone=zone, level=level, sector=sector, q=q)
        return [_view(ctx, d, cq.summary_json(s, d)) for d in rows if None in zones or d.zone_code in zones]


def _view(ctx: Ctx, ds, doc: dict) -> dict:
    """Partners see only coarse metadata of level >= 3 data (see egress.gate.coarse_for)."""
    return gate.coarse_dataset(doc) if gate.coarse_for(ctx.principal, ds) else doc


@router.get("/{name}")
def show(name: str, ctx: Ctx = Depends(api_ctx)):
    ctx.require_any(Perm.CATALOG_READ)
    with ctx.rt.store.sessions() as s:
        ds = _visible(ctx, s, name)
        return _view(ctx, ds, cq.dataset_json(s, ds))


@router.get("/{name}/dcat")
def dcat(name: str, ctx: Ctx = Depends(api_ctx)):
    """The dataset's metadata as DCAT JSON-LD."""
    ctx.require_any(Perm.CATALOG_READ)
    with ctx.rt.store.sessions() as s:
        ds = _visible(ctx, s, name)
        return _view(ctx, ds, cq.dcat_json(s, ds))


class LevelIn(BaseModel):
    level: int = Field(ge=1, le=4)
    basis: str = Field(min_length=1, max_length=2000)


def _decide(ctx: Ctx, name: str, perm: Perm, fn):
    with ctx.rt.store.transaction() as s:
        ds = _visible(ctx, s, name)
        access.check(s, ctx.principal, perm, ds.zone_code, ds)
        fn(s, ds)
        return cq.dataset_json(s, ds)


_PROPOSED = {202: {"description": "operator staff: what relaxes protection became a pending proposal "
                                   "(listed in `proposed`), nothing of it is in force"}}


def _change(ctx: Ctx, name: str, fn):
    """A change by one who decides (applied) or by operator staff (what relaxes protection is proposed):
    200 with the dataset, or 202 with the dataset and the proposals when something waits for a decision."""
    proposed: list = []
    with ctx.rt.store.transaction() as s:
        ds = _visible(ctx, s, name)
        decides = access.may_decide(s, ctx.principal, ds)
        fn(s, ds, decides, proposed)
        doc = cq.dataset_json(s, ds)
        if not proposed:
            return doc
        doc["proposed"] = [cq.proposal_json(s, p, ds) for p in proposed]
    return JSONResponse(jsonable_encoder(doc), status_code=202)


@router.post("/{name}/level", responses=_PROPOSED)
def set_level(name: str, body: LevelIn, ctx: Ctx = Depends(api_ctx)):
    """Confirm the level (provider for its own data, or the security admin): an audited decision. Operator
    staff may raise it; a lower level from them is a proposal."""
    return _change(ctx, name, lambda s, ds, decides, proposed: cat.do_set_level(
        s, ds, level=body.level, basis=body.basis, actor=ctx.actor, decides=decides, proposed=proposed))


class FlagIn(BaseModel):
    reason: str = Field(max_length=30)
    note: str = Field(default="", max_length=2000)


@router.post("/{name}/r28")
def flag(name: str, body: FlagIn, ctx: Ctx = Depends(api_ctx)):
    """Flag under R-28: catalogued, never operated."""
    return _decide(ctx, name, Perm.DATASET_DECIDE,
                   lambda s, ds: cat.do_flag_r28(s, ds, reason=body.reason, note=body.note, actor=ctx.actor))


class ColumnIn(BaseModel):
    role: str | None = Field(default=None, max_length=20)
    bounds: tuple[float, float] | None = None
    public_values: list[str] | None = Field(default=None, max_length=10000)
    mask_policy: dict | None = Field(default=None, description='e.g. {"op": "partial", "keep_first": 1}')
    basis: str = Field(default="", max_length=2000)


@router.post("/{name}/columns/{column}", responses=_PROPOSED)
def set_column(name: str, column: str, body: ColumnIn, ctx: Ctx = Depends(api_ctx)):
    """Column decisions: role, DP bounds and public values (from policy or public code lists, never from the
    data), masking policy. What relaxes protection is the provider's or the security admin's decision with its
    basis; from operator staff it becomes a proposal (202), while what tightens applies at once."""
    return _change(ctx, name, lambda s, ds, decides, proposed: cat.do_set_column(
        s, ds, column, actor=ctx.actor, role=body.role, bounds=body.bounds, public_values=body.public_values,
        mask_policy=body.mask_policy, basis=body.basis, decides=decides, proposed=proposed))


@router.get("/{name}/proposals")
def proposals(name: str, state: Literal["pending", "accepted", "rejected", "all"] = "pending",
              ctx: Ctx = Depends(api_ctx)):
    """The dataset's proposals (pending by default), for those who propose or decide."""
    with ctx.rt.store.sessions() as s:
        ds = _visible(ctx, s, name)
        access.may_decide(s, ctx.principal, ds)  # staff or a decider; others are refused
        rows = cq.list_proposals(s, dataset_ids=[ds.id], state=None if state == "all" else state)
        return [cq.proposal_json(s, p, ds) for p in rows]


ProposalId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class DecisionIn(BaseModel):
    decision: Literal["accept", "reject"]
    basis: str = Field(min_length=1, max_length=2000)


@router.post("/{name}/proposals/{proposal_id}")
def decide_proposal(name: str, proposal_id: ProposalId, body: DecisionIn, ctx: Ctx = Depends(api_ctx)):
    """Accept or reject a proposal, with the basis (provider for its own data, or the security admin):
    accepting puts the change in force; a proposal is decided once (409 `proposal_decided`)."""
    with ctx.rt.store.transaction() as s:
        ds = _visible(ctx, s, name)
        access.check(s, ctx.principal, Perm.DATASET_DECIDE, ds.zone_code, ds)
        p = cat.do_decide_proposal(s, ds, proposal_id, accept=body.decision == "accept", basis=body.basis,
                                   actor=ctx.actor)
        return {**cq.dataset_json(s, ds), "decided": cq.proposal_json(s, p, ds)}


@router.post("/{name}/scan")
def scan(name: str, ctx: Ctx = Depends(api_ctx)):
    """Detect personal information per column and suggest a level (suggestions only)."""
    rt = ctx.rt
    return _decide(ctx, name, Perm.DATASET_METADATA,
                   lambda s, ds: cat.do_scan(s, rt.keystore, rt.suite, rt.datasets, ds, actor=ctx.actor))


@router.get("/{name}/preview")
def preview(name: str, limit: int = Query(20, ge=1, le=100), ctx: Ctx = Depends(api_ctx)):
    """A masked preview, released through the egress gate (audited; the receipt names the event)."""
    rt = ctx.rt
    with rt.store.transaction() as s:
        ds = _visible(ctx, s, name)
        data, receipt = gate.release_preview(s, rt.keystore, rt.suite, rt.datasets, ds, principal=ctx.principal,
                                             actor=ctx.actor, limit=limit)
    return {**data, "receipt": receipt.as_dict()}


@router.get("/{name}/stats")
def stats(name: str, ctx: Ctx = Depends(api_ctx)):
    """Per-column counts, released through the egress gate."""
    rt = ctx.rt
    with rt.store.transaction() as s:
        ds = _visible(ctx, s, name)
        data, receipt = gate.release_stats(s, rt.keystore, rt.suite, rt.datasets, ds, principal=ctx.principal,
                                           actor=ctx.actor)
    return {**data, "receipt": receipt.as_dict()}


class ImportForm(BaseModel):
    """The text fields of an upload (multipart/form-data, beside the `file`)."""

    zone: str = Field(max_length=64)
    name: str = Field(max_length=64)
    provider: str = Field(max_length=200)
    title: str | None = Field(default=None, max_length=200)
    level: int | None = Field(default=None, ge=1, le=4)
    basis: str = Field(default="", max_length=2000)
    privacy_unit: str | None = Field(default=None, max_length=200)


class ImportQueued(BaseModel):
    job_id: int
    status: str = "queued"
    status_url: str = Field(description="GET it for the job's progress, then its dataset or its error")


_IMPORT_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "zone", "name", "provider"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "CSV (UTF-8 or GBK), Parquet or Excel .xlsx"},
                   **ImportForm.model_json_schema()["properties"]}}}}}}


@router.post("", status_code=202, response_model=ImportQueued, openapi_extra=_IMPORT_BODY)
async def import_upload(request: Request, response: Response, ctx: Ctx = Depends(api_ctx)):
    """Upload a CSV (UTF-8 or GBK), Parquet or Excel file and queue its import into a zone (filed operator
    staff): 202 with the job's id; `GET /api/v1/jobs/{id}` gives its progress, then the dataset or the error
    (naming the bad line or column). The upload streams into the data directory (0600), never a temp dir, and
    is limited to `PDZONE_MAX_UPLOAD_BYTES` (413 `payload_too_large`)."""
    rt = ctx.rt
    await run_in_threadpool(ctx.require_any, Perm.DATASET_IMPORT)  # before any of the body is read
    data_dir = rt.settings.data_dir
    up = await receive_upload(request, data_dir)
    try:
        try:
            form = ImportForm.model_validate(up.fields)
        except ValidationError as e:
            raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in e.errors()]) from e
        if up.stored is None:
            raise RequestValidationError([{"type": "missing", "loc": ("body", "file"), "msg": "Field required"}])
        stored, up.stored = up.stored, None  # from here the queueing owns (and on failure removes) the file
        job_id = await run_in_threadpool(_queue_import, ctx, form, stored, up.filename or "")
    finally:
        up.discard(data_dir)
    response.headers["Location"] = f"/api/v1/jobs/{job_id}"
    return ImportQueued(job_id=job_id, status_url=f"/api/v1/jobs/{job_id}")


def _queue_import(ctx: Ctx, form: ImportForm, stored: str, filename: str) -> int:
    rt = ctx.rt
    try:
        with rt.store.sessions() as s:
            access.check(s, ctx.principal, Perm.DATASET_IMPORT, form.zone)
            tasks.check_import(s, name=form.name.strip(), zone_code=form.zone, provider=form.provider,
                               level=form.level, basis=form.basis)
    except BaseException:
        spool.remove(rt.settings.data_dir, [stored])
        raise
    return tasks.enqueue_spooled(rt.store, rt.settings.data_dir, stored, filename=FsPath(filename).name[:300],
                                 name=form.name.strip(), zone_code=form.zone, provider=form.provider,
                                 actor=ctx.actor, title=form.title, level=form.level, basis=form.basis,
                                 privacy_unit=form.privacy_unit, limits=Limits.from_settings(rt.settings))


class MetadataIn(BaseModel):
    title_zh: str | None = Field(default=None, max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    source_system: str | None = Field(default=None, max_length=200)
    sector: str | None = Field(default=None, max_length=30)
    update_frequency: str | None = Field(default=None, max_length=30)
    time_coverage: str | None = Field(default=None, max_length=100)
    space_coverage: str | None = Field(default=None, max_length=100)
    columns: dict[str, dict[str, str]] | None = Field(default=None, max_length=500)


@router.patch("/{name}")
def edit_metadata(name: str, body: MetadataIn, ctx: Ctx = Depends(api_ctx)):
    """Describe a dataset (filed operator staff)."""
    fields = body.model_dump(exclude={"columns"})
    return _decide(ctx, name, Perm.DATASET_METADATA,
                   lambda s, ds: cat.do_edit_metadata(s, ds, actor=ctx.actor, columns=body.columns, **fields))


class LinkIn(BaseModel):
    derived_from: str = Field(max_length=64)
    note: str = Field(default="", max_length=2000)


@router.post("/{name}/lineage", status_code=201)
def link(name: str, body: LinkIn, ctx: Ctx = Depends(api_ctx)):
    """Record that this dataset derives from another (lineage)."""
    def do(s, ds):
        cat.do_link(s, ds, _visible(ctx, s, body.derived_from), note=body.note, actor=ctx.actor)
    return _decide(ctx, name, Perm.DATASET_METADATA, do)
