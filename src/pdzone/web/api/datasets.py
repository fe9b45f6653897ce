"""The catalog over the API (a dataset is addressed by its name). Metadata only: values leave through
the egress gate."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from pydantic import BaseModel, Field

from pdzone.catalog import access
from pdzone.catalog import actions as cat
from pdzone.catalog import queries as cq
from pdzone.egress import gate
from pdzone.errors import NotFound
from pdzone.identity.roles import Perm
from pdzone.web.context import Ctx, api_ctx

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


@router.post("/{name}/level")
def set_level(name: str, body: LevelIn, ctx: Ctx = Depends(api_ctx)):
    """Confirm the level (provider for its own data, or the security admin): an audited decision."""
    return _decide(ctx, name, Perm.DATASET_DECIDE,
                   lambda s, ds: cat.do_set_level(s, ds, level=body.level, basis=body.basis, actor=ctx.actor))


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


@router.post("/{name}/columns/{column}")
def set_column(name: str, column: str, body: ColumnIn, ctx: Ctx = Depends(api_ctx)):
    """Column decisions: operator staff may set roles; bounds and public values are the provider's or the
    security admin's decision, from policy or public code lists, never from the data."""
    decides = body.bounds is not None or body.public_values is not None or body.mask_policy is not None
    perm = Perm.DATASET_DECIDE if decides else Perm.DATASET_METADATA
    return _decide(ctx, name, perm, lambda s, ds: cat.do_set_column(
        s, ds, column, actor=ctx.actor, role=body.role, bounds=body.bounds, public_values=body.public_values,
        mask_policy=body.mask_policy, basis=body.basis))


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


@router.post("", status_code=201)
def import_upload(file: UploadFile = File(...), zone: str = Form(max_length=64), name: str = Form(max_length=64),
                  provider: str = Form(max_length=200), title: str | None = Form(None, max_length=200),
                  level: int | None = Form(None, ge=1, le=4), basis: str = Form("", max_length=2000),
                  privacy_unit: str | None = Form(None, max_length=200), ctx: Ctx = Depends(api_ctx)):
    """Import a CSV (UTF-8 or GBK), Parquet or Excel file into a zone (filed operator staff)."""
    rt = ctx.rt
    with rt.store.sessions() as s:
        access.check(s, ctx.principal, Perm.DATASET_IMPORT, zone)
    suffix = Path(file.filename or "").suffix.lower()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"upload{suffix}"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, length=1 << 20)
        ds = cat.import_dataset(rt.store, rt.keystore, rt.suite, rt.datasets, path, name=name, zone_code=zone,
                                provider=provider, actor=ctx.actor, title=title, level=level, basis=basis,
                                privacy_unit=privacy_unit)
    with rt.store.transaction() as s:
        ds = cat.find_dataset(s, ds.name)
        cat.do_scan(s, rt.keystore, rt.suite, rt.datasets, ds, actor=ctx.actor)
        return cq.dataset_json(s, ds)


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
