"""The data catalog (数据目录): search with facets, the dataset page (schema, detected personal information,
level and its basis, masking policy in effect, lineage, masked preview), decisions (level, R-28, column roles,
bounds, masking policies), pending decisions and the import wizard, which queues the import as a background job
(its page is in `console/jobs.py`). R-21.4, R-27, R-28.

Operator staff see the level, column and masking forms too, with a "提议" (propose) button: what relaxes
protection becomes a proposal that the provider (own data) or the security admin accepts or rejects, with a
basis, on the dataset page or the pending-decisions page (`catalog.actions`, module docstring).

Metadata comes from `catalog.queries`; the permission rules are those of `web/api/datasets.py`. Zone data
appears in the console only as a masked preview released by `egress.gate.release_preview`, which checks the
caller, masks every column, audits the release and gives a receipt (R-25, R-32).
"""

from __future__ import annotations

import hmac
import json
import re
from pathlib import Path as FsPath
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from pdzone.catalog import access, tasks
from pdzone.catalog import actions as cat
from pdzone.catalog import queries as cq
from pdzone.catalog.actions import ColumnRole, R28Reason
from pdzone.catalog.importing import Limits
from pdzone.catalog.models import Dataset
from pdzone.egress import gate
from pdzone.errors import Forbidden, Invalid, NotFound, PdzoneError
from pdzone.governance import actions as gov
from pdzone.identity import queries as idq
from pdzone.identity.actions import OrgKind
from pdzone.identity.auth import Principal
from pdzone.identity.roles import Perm
from pdzone.protect.masking import PARAMS, MaskOp
from pdzone.web import i18n
from pdzone.web.console.base import ConsoleRoute, csrf_token, env, note_refusal, page_ctx, post_ctx, render, see_other
from pdzone.web.console.jobs import error_where
from pdzone.web.context import Ctx
from pdzone.web.upload import receive_upload

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Name = Annotated[str, Path(max_length=64)]
Short = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=2000)]

FACETS = ("zone", "sector", "level", "provider")
UNSET = "none"  # facet value of a dataset without a sector, or without a confirmed level
PREVIEW_ROWS = 20
_SAFE_FILENAME = re.compile(r"[^\w.\-]+")


# --- shared --------------------------------------------------------------------------------

def _visible(ctx: Ctx, s: Session, name: str) -> Dataset:
    """The dataset, if it is in a zone whose catalog the caller reads (else 404, as the API answers)."""
    ds = cat.find_dataset(s, name)
    zones = access.visible_zones(ctx.principal)
    if None not in zones and ds.zone_code not in zones:
        raise NotFound(f"找不到数据集：{name}", f"no dataset named {name}", code="dataset_not_found")
    return ds


def _is_pending(ds: Dataset) -> bool:
    """A level nobody confirmed yet, or a suggestion from the data that disagrees with the confirmed level."""
    return ds.level is None or (ds.suggested_level is not None and ds.suggested_level != ds.level)


def pending_proposals(s: Session, p: Principal) -> list[dict]:
    """Proposals waiting for the caller's decision: on a provider's own data, or any the security admin decides."""
    zones = p.zones_with(Perm.DATASET_DECIDE)
    if not zones:
        return []
    mine = [ds for ds in cq.list_datasets(s) if (None in zones or ds.zone_code in zones)
            and access.allowed(s, p, Perm.DATASET_DECIDE, ds.zone_code, ds) is None]
    by_id = {ds.id: ds for ds in mine}
    return [{**cq.proposal_json(s, prop, by_id[prop.dataset_id]), "title": by_id[prop.dataset_id].title_zh}
            for prop in cq.list_proposals(s, dataset_ids=list(by_id))]


def pending_decisions(s: Session, p: Principal) -> list[dict]:
    """Datasets whose level awaits the caller's decision: a provider's own data, or any the security
    admin may decide (the rule of `access.allowed` for DATASET_DECIDE)."""
    zones = p.zones_with(Perm.DATASET_DECIDE)
    if not zones:
        return []
    out = []
    for ds in cq.list_datasets(s):
        if None not in zones and ds.zone_code not in zones:
            continue
        if not _is_pending(ds) or access.allowed(s, p, Perm.DATASET_DECIDE, ds.zone_code, ds) is not None:
            continue
        out.append({**cq.summary_json(s, ds), "why": "unconfirmed" if ds.level is None else "differs"})
    return out


def _catalog_nav(p: Principal | None) -> bool:
    return bool(p and p.zones_with(Perm.CATALOG_READ))


def _home_pending(ctx: Ctx | None) -> list[dict] | None:
    """For the home page: None when the caller decides no levels, else their pending decisions."""
    if ctx is None or not ctx.principal.zones_with(Perm.DATASET_DECIDE):
        return None
    with ctx.rt.store.sessions() as s:
        return pending_decisions(s, ctx.principal)


def _home_tasks(ctx: Ctx | None) -> list[tuple[str, str, dict]]:
    if ctx is None:
        return []
    p, tasks = ctx.principal, []
    # Only roles with work in the catalog get a task; readers find it in the navigation bar.
    if any(p.zones_with(perm) for perm in (Perm.DATASET_DECIDE, Perm.DATASET_METADATA, Perm.DATASET_PREVIEW)):
        tasks.append(("/catalog", "task.catalog", {}))
    if p.zones_with(Perm.DATASET_IMPORT):
        tasks.append(("/catalog/import", "task.import", {}))
    return tasks


# The home page and the navigation bar are rendered by other modules; they ask these for catalog items.
env.globals.update(catalog_nav=_catalog_nav, catalog_pending=_home_pending, catalog_tasks=_home_tasks,
                   pii_name=i18n.pii_name, sector_name=i18n.sector_name, mask_op_name=i18n.mask_op_name,
                   r28_name=i18n.r28_name, column_role_name=i18n.column_role_name, encoding_name=i18n.encoding_name)


# --- the catalog: search and facets --------------------------------------------------------

def _facet_value(ds: Dataset, key: str) -> str:
    if key == "zone":
        return ds.zone_code
    if key == "sector":
        return ds.sector or UNSET
    if key == "level":
        return str(ds.level) if ds.level else UNSET
    return str(ds.provider_org_id)


def _href(f: dict[str, str], **change: str | None) -> str:
    new = {**f, **change}
    q = urlencode({k: v for k, v in new.items() if v})
    return "/catalog" + (f"?{q}" if q else "")


@router.get("/catalog")
def catalog(request: Request, q: Annotated[str, Query(max_length=100)] = "",
            zone: Annotated[str, Query(max_length=64)] = "", sector: Annotated[str, Query(max_length=30)] = "",
            level: Annotated[str, Query(max_length=4)] = "", provider: Annotated[str, Query(max_length=20)] = "",
            ctx: Ctx = Depends(page_ctx)):
    """Search the catalog of the zones the caller works in; facets count what the other filters leave."""
    zones = ctx.require_any(Perm.CATALOG_READ)
    q = q.strip()
    f = {k: v.strip() for k, v in (("zone", zone), ("sector", sector), ("level", level), ("provider", provider))
         if v.strip()}
    with ctx.rt.store.sessions() as s:
        found = [d for d in cq.list_datasets(s, q=q or None) if None in zones or d.zone_code in zones]
        zone_names = {z.code: z.name for z in gov.list_zones(s)}
        org_names = {str(o.id): o.name for o in idq.list_orgs(s)}
        rows = [({**gate.coarse_dataset(cq.summary_json(s, d)), "pending": d.level is None}
                 if gate.coarse_for(ctx.principal, d)   # "pending" must not say the suggestion differs
                 else {**cq.summary_json(s, d), "pending": _is_pending(d)})
                for d in found if all(_facet_value(d, k) == v for k, v in f.items())]
    lang = ctx.lang
    labels = {"zone": lambda v: zone_names.get(v, v), "provider": lambda v: org_names.get(v, v),
              "sector": lambda v: i18n.t(lang, "catalog.no_sector") if v == UNSET else i18n.sector_name(lang, v),
              "level": lambda v: i18n.t(lang, "level.unconfirmed") if v == UNSET else i18n.t(lang, "level.n", n=v)}
    facets = []
    for key in FACETS:
        counts: dict[str, int] = {}
        for d in found:
            if all(_facet_value(d, k) == v for k, v in f.items() if k != key):
                counts[_facet_value(d, key)] = counts.get(_facet_value(d, key), 0) + 1
        if key in f:
            counts.setdefault(f[key], 0)
        options = [{"value": v, "label": labels[key](v), "count": n, "selected": f.get(key) == v,
                    "href": _href({**f, "q": q}, **{key: None if f.get(key) == v else v})}
                   for v, n in counts.items()]
        options.sort(key=lambda o: (o["value"] == UNSET, o["value"] if key == "level" else o["label"]))
        facets.append({"key": key, "options": options})
    page = _href({**f, "q": q})
    return render(request, "console/catalog.html", ctx=ctx, page=page, q=q, f=f, facets=facets, datasets=rows,
                  zone_names=zone_names, clear_href=_href({"q": q}),
                  can_import=bool(ctx.principal.zones_with(Perm.DATASET_IMPORT)),
                  can_decide=bool(ctx.principal.zones_with(Perm.DATASET_DECIDE)))


@router.get("/catalog/pending")
def pending(request: Request, ok: Annotated[str | None, Query(max_length=40)] = None,
            ctx: Ctx = Depends(page_ctx)):
    """Levels awaiting the caller's decision (providers: own datasets; the security admin: all)."""
    ctx.require_any(Perm.DATASET_DECIDE)
    with ctx.rt.store.sessions() as s:
        items = pending_decisions(s, ctx.principal)
        proposals = pending_proposals(s, ctx.principal)
        zone_names = {z.code: z.name for z in gov.list_zones(s)}
    return render(request, "console/catalog_pending.html", ctx=ctx, ok=ok, items=items, proposals=proposals,
                  zone_names=zone_names)


# --- the import wizard ---------------------------------------------------------------------

# Which form field an import error belongs to (by error code), for the message beside it.
_IMPORT_FIELD = {"invalid_dataset_name": "name", "dataset_exists": "name", "zone_not_found": "zone",
                 "forbidden": "zone", "not_filed": "zone", "org_not_found": "provider", "invalid_provider": "provider",
                 "column_not_found": "privacy_unit", "invalid_level": "level", "basis_required": "basis"}


def _import_page(request: Request, ctx: Ctx, *, status: int = 200, error: PdzoneError | None = None,
                 form: dict | None = None):
    p = ctx.principal
    with ctx.rt.store.sessions() as s:
        zones = [z for z in gov.list_zones(s)
                 if access.allowed(s, p, Perm.DATASET_IMPORT, z.code) is None]
        providers = [o for o in idq.list_orgs(s) if o.kind == OrgKind.PROVIDER and not o.disabled]
    where = error_where(ctx.lang, error.details) if error is not None else []
    return render(request, "console/catalog_import.html", ctx=ctx, status=status, page="/catalog/import",
                  zones=zones, providers=providers, form=form or {},
                  error=error.message(ctx.lang) if error else None, error_code=error.code if error else None,
                  error_where=where, error_field=_IMPORT_FIELD.get(error.code, "file") if error else None)


@router.get("/catalog/import")
def import_form(request: Request, ctx: Ctx = Depends(page_ctx)):
    ctx.require_any(Perm.DATASET_IMPORT)
    return _import_page(request, ctx)


def _optional_level(level: str) -> int | None:
    level = level.strip()
    if not level:
        return None
    if not level.isdigit():
        raise Invalid("级别须为 1-4", "a level is 1 to 4", code="invalid_level")
    return int(level)


_IMPORT_LIMITS = {"zone": 200, "name": 200, "provider": 200, "title": 200, "level": 4, "basis": 2000,
                  "privacy_unit": 200, "csrf": 200}


@router.post("/catalog/import")
async def import_upload(request: Request, ctx: Ctx = Depends(page_ctx)):
    """Upload a department's file (CSV in UTF-8 or GBK, Parquet, Excel) and queue its import (filed operator
    staff). What the form says is checked at once and shown beside its field; the file itself is read, sealed,
    catalogued and scanned by a background job, whose page shows the progress and then links to the dataset,
    or names the line or column that stopped it.

    The form is read here, not by FastAPI: the file streams into the data directory's spool (0600), never the
    system temp directory, and is removed when the form is refused (web/upload.py)."""
    rt = ctx.rt
    await run_in_threadpool(ctx.require_any, Perm.DATASET_IMPORT)  # before any of the body is read
    up = await receive_upload(request, rt.settings.data_dir)
    try:
        fields = up.fields
        if any(len(fields.get(k, "")) > n for k, n in _IMPORT_LIMITS.items()):
            raise Invalid(*i18n.both("error.invalid_form"), code="invalid_request")
        if not hmac.compare_digest(fields.get("csrf", "").encode(), csrf_token(request, ctx).encode()):
            raise Forbidden(*i18n.both("error.csrf"), code="csrf_failed")
        return await run_in_threadpool(_queue_upload, request, ctx, up)
    finally:
        up.discard(rt.settings.data_dir)


def _queue_upload(request: Request, ctx: Ctx, up):
    rt = ctx.rt
    get = up.fields.get
    zone, name, provider, title = get("zone", ""), get("name", "").strip(), get("provider", ""), get("title", "")
    level, basis, privacy_unit = get("level", ""), get("basis", ""), get("privacy_unit", "")
    form = {"zone": zone, "name": name, "provider": provider, "title": title, "level": level,
            "basis": basis, "privacy_unit": privacy_unit}
    try:
        with rt.store.sessions() as s:
            access.check(s, ctx.principal, Perm.DATASET_IMPORT, zone)
            if up.stored is None or not up.filename:
                raise Invalid(*i18n.both("import.err.no_file"), code="file_required")
            wanted_level = _optional_level(level)
            tasks.check_import(s, name=name, zone_code=zone, provider=provider, level=wanted_level, basis=basis)
        original = FsPath(up.filename).name
        safe = _SAFE_FILENAME.sub("_", original).lstrip(".")[:120] or "upload"
        if FsPath(safe).suffix.lower() != FsPath(original).suffix.lower():
            safe = "upload" + FsPath(original).suffix.lower()
        stored, up.stored = up.stored, None  # the queueing owns the file now (and removes it if it fails)
        job_id = tasks.enqueue_spooled(
            rt.store, rt.settings.data_dir, stored, filename=safe, name=name, zone_code=zone,
            provider=provider, actor=ctx.actor, title=title.strip() or None, level=wanted_level, basis=basis,
            privacy_unit=privacy_unit.strip() or None, limits=Limits.from_settings(rt.settings))
    except PdzoneError as e:
        note_refusal(request, e)
        return _import_page(request, ctx, status=e.status, error=e, form=form)
    return see_other(f"/console/jobs/{job_id}", ok="import_queued")


# --- the dataset page ----------------------------------------------------------------------

def _policy_view(policy) -> dict:
    doc = json.loads(policy.model_dump_json())
    op = doc.pop("op")
    return {"op": op, "params": doc}


def _script_json(value) -> str:
    """JSON for a <script type="application/json"> block: no character of it can close the element."""
    return (json.dumps(value, ensure_ascii=False, default=str)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _lineage(ctx: Ctx, s: Session, ds: Dataset, doc: dict) -> dict:
    """The dataset and its direct neighbours, as nodes and links for the chart (itself alone when none)."""
    zones = access.visible_zones(ctx.principal)

    def node(name: str, role: str) -> dict:
        n = {"id": name, "name": name, "title": name, "level": None, "role": role, "url": None}
        try:
            other = cat.find_dataset(s, name)
        except NotFound:
            return n
        if None in zones or other.zone_code in zones:
            n.update(title=other.title_zh, level=other.level, url=f"/catalog/{name}")
        return n

    nodes = [{"id": ds.name, "name": ds.name, "title": ds.title_zh, "level": ds.level, "role": "self", "url": None}]
    nodes += [node(n, "source") for n in doc["lineage"]["derived_from"]]
    nodes += [node(n, "product") for n in doc["lineage"]["products"]]
    links = ([{"source": n, "target": ds.name} for n in doc["lineage"]["derived_from"]]
             + [{"source": ds.name, "target": n} for n in doc["lineage"]["products"]])
    lang = ctx.lang
    return {"nodes": nodes, "links": links,
            "labels": {"level": {str(i): i18n.t(lang, "level.n", n=i) for i in range(1, 5)},
                       "unconfirmed": i18n.t(lang, "level.unconfirmed"),
                       "self": i18n.t(lang, "lineage.self"), "source": i18n.t(lang, "lineage.source"),
                       "product": i18n.t(lang, "lineage.product")}}


def _dataset_page(request: Request, ctx: Ctx, name: str, *, status: int = 200, ok: str | None = None,
                  preview: dict | None = None, receipt: dict | None = None, preview_error: PdzoneError | None = None,
                  form_error: tuple[str, str] | None = None, form: dict | None = None):
    ctx.require_any(Perm.CATALOG_READ)
    p = ctx.principal
    with ctx.rt.store.sessions() as s:
        ds = _visible(ctx, s, name)
        doc = cq.dataset_json(s, ds)
        if gate.coarse_for(p, ds):   # partners: coarse metadata of level >= 3 data
            doc = gate.coarse_dataset(doc)
        try:
            _, policies = gate.policies_for(s, ds)
            policy_error = None
        except PdzoneError as e:  # a stored policy that no longer passes the checks: shown, never applied
            policies, policy_error = {}, e.message(ctx.lang)
        can = {"decide": access.allowed(s, p, Perm.DATASET_DECIDE, ds.zone_code, ds) is None,
               "metadata": access.allowed(s, p, Perm.DATASET_METADATA, ds.zone_code, ds) is None,
               "preview": p.can(Perm.DATASET_PREVIEW, ds.zone_code)}
        can["propose"] = can["metadata"] and not can["decide"]  # staff: the forms propose what relaxes
        lineage = _lineage(ctx, s, ds, doc)
        zone_names = {z.code: z.name for z in gov.list_zones(s)}
    for c in doc["columns"]:
        c["policy"] = _policy_view(policies[c["name"]]) if c["name"] in policies else None
    for d in doc["decisions"]:
        if d["kind"] == "mask_policy" and isinstance(d["value"], dict):
            d["policy"] = {"op": d["value"].get("op"), "params": {k: v for k, v in d["value"].items() if k != "op"}}
    doc["effective_level"] = gate.effective_level(ds)
    return render(request, "console/dataset.html", ctx=ctx, status=status, ok=ok, page=f"/catalog/{doc['name']}",
                  ds=doc, can=can, zone_names=zone_names, policy_error=policy_error,
                  lineage_json=_script_json(lineage),
                  lineage=lineage, preview=preview, receipt=receipt,
                  preview_error=preview_error.message(ctx.lang) if preview_error else None,
                  preview_error_code=preview_error.code if preview_error else None,
                  form_error=form_error, form=form or {}, roles=[r.value for r in ColumnRole],
                  r28_reasons=[r.value for r in R28Reason], mask_ops=[o.value for o in MaskOp],
                  preview_rows=PREVIEW_ROWS)


@router.get("/catalog/{name}")
def dataset(request: Request, name: Name, ok: str | None = None, ctx: Ctx = Depends(page_ctx)):
    return _dataset_page(request, ctx, name, ok=ok)


@router.post("/catalog/{name}/preview")
def preview(request: Request, name: Name, limit: Annotated[int, Form(ge=1, le=gate.MAX_PREVIEW)] = PREVIEW_ROWS,
            ctx: Ctx = Depends(post_ctx)):
    """A masked preview, released only through the egress gate (checked, masked, audited, with a receipt).

    A POST with the form's CSRF token, not a link: every release writes an audit event, and a page that
    writes must not be fetched by a prefetcher or a crawler."""
    ctx.require_any(Perm.CATALOG_READ)
    rt = ctx.rt
    def release():
        with rt.store.transaction() as s:
            ds = _visible(ctx, s, name)
            return gate.release_preview(s, rt.keystore, rt.suite, rt.datasets, ds, principal=ctx.principal,
                                        actor=ctx.actor, limit=limit)

    try:
        data, receipt = release()
    except PdzoneError as e:
        if e.code == "dataset_not_found":
            raise
        note_refusal(request, e)
        return _dataset_page(request, ctx, name, status=e.status, preview_error=e)
    data["policies"] = {c: {"op": p.pop("op"), "params": p} for c, p in data["policies"].items()}
    return _dataset_page(request, ctx, name, preview=data, receipt=receipt.as_dict())


def _change(request: Request, ctx: Ctx, name: str, form_key: str, form: dict, fn, ok: str):
    """A change by one who decides (applied) or by operator staff (what relaxes protection becomes a proposal,
    and the page says so); `fn(s, ds, decides, proposed)`. Refusals and bad values are shown beside the form."""
    proposed: list = []

    def change():
        with ctx.rt.store.transaction() as s:
            ds = _visible(ctx, s, name)
            fn(s, ds, access.may_decide(s, ctx.principal, ds), proposed)

    refused = _attempt(request, ctx, name, form_key, form, change)
    return refused or see_other(f"/catalog/{name}", ok="proposed" if proposed else ok)


def _decide(request: Request, ctx: Ctx, name: str, perm: Perm, form_key: str, form: dict, fn, ok: str):
    """One decision: visible, allowed (the API's rule), done by the catalog action in one transaction with its
    audit event; a refusal or a bad value is shown beside the form."""
    def decide():
        with ctx.rt.store.transaction() as s:
            ds = _visible(ctx, s, name)
            access.check(s, ctx.principal, perm, ds.zone_code, ds)
            fn(s, ds)

    return _attempt(request, ctx, name, form_key, form, decide) or see_other(f"/catalog/{name}", ok=ok)


def _attempt(request: Request, ctx: Ctx, name: str, form_key: str, form: dict, action):
    """Run a form's action; a refusal (recorded) is the dataset page with the message beside the form, else None."""
    try:
        action()
    except PdzoneError as e:
        if e.code == "dataset_not_found":
            raise
        note_refusal(request, e)
        return _dataset_page(request, ctx, name, status=e.status, form_error=(form_key, e.message(ctx.lang)),
                             form={form_key: form})
    return None


@router.post("/catalog/{name}/level")
def set_level(request: Request, name: Name, level: Annotated[str, Form(max_length=4)] = "", basis: Text = "",
              ctx: Ctx = Depends(post_ctx)):
    """Confirm the level (the provider for its own data, or the security admin), with its basis; operator staff
    propose one (a higher level than the confirmed one applies at once)."""
    def do(s, ds, decides, proposed):
        value = _optional_level(level)
        if value is None:
            raise Invalid("请选择级别", "choose a level", code="invalid_level")
        cat.do_set_level(s, ds, level=value, basis=basis, actor=ctx.actor, decides=decides, proposed=proposed)

    return _change(request, ctx, name, "level", {"level": level, "basis": basis}, do, "level_set")


@router.post("/catalog/{name}/r28")
def flag_r28(request: Request, name: Name, reason: Short = "", note: Text = "", ctx: Ctx = Depends(post_ctx)):
    """Flag under R-28: the dataset stays in the catalog and never enters operation."""
    return _decide(request, ctx, name, Perm.DATASET_DECIDE, "r28", {"reason": reason, "note": note},
                   lambda s, ds: cat.do_flag_r28(s, ds, reason=reason, note=note, actor=ctx.actor), "r28_flagged")


def _bounds(lo: str, hi: str) -> tuple[float, float] | None:
    lo, hi = lo.strip(), hi.strip()
    if not lo and not hi:
        return None
    try:
        return float(lo), float(hi)
    except ValueError:
        raise Invalid(*i18n.both("dataset.err.bounds"), code="invalid_bounds") from None


@router.post("/catalog/{name}/columns")
def set_column(request: Request, name: Name, column: Short = "", role: Annotated[str, Form(max_length=20)] = "",
               bounds_lo: Annotated[str, Form(max_length=40)] = "", bounds_hi: Annotated[str, Form(max_length=40)] = "",
               public_values: Annotated[str, Form(max_length=200_000)] = "", basis: Text = "",
               ctx: Ctx = Depends(post_ctx)):
    """Column decisions: roles, DP bounds and public values (from policy or public code lists, never from the
    data). What relaxes protection is the provider's or the security admin's decision; operator staff propose it."""
    values = [v for v in public_values.splitlines() if v.strip()] or None
    has_bounds = bool(bounds_lo.strip() or bounds_hi.strip())
    form_key = "column_role" if not has_bounds and values is None else "column_decide"
    form = {"column": column, "role": role, "bounds_lo": bounds_lo, "bounds_hi": bounds_hi,
            "public_values": public_values, "basis": basis}
    return _change(request, ctx, name, form_key, form, lambda s, ds, decides, proposed: cat.do_set_column(
        s, ds, column, actor=ctx.actor, role=role or None, bounds=_bounds(bounds_lo, bounds_hi),
        public_values=values, basis=basis, decides=decides, proposed=proposed), "column_set")


# The masking form's parameters, by how a value is read; only the chosen operator's own ones are used.
_INT_PARAMS = ("keep_first", "keep_last", "mask_len", "band_width", "region_digits", "min_count")
_NUM_PARAMS = ("cap", "floor")
_FLAG_PARAMS = ("keep_sex", "released")
MaskField = Annotated[str, Form(max_length=40)]


def mask_policy_of(op: str, fields: dict[str, str]) -> dict:
    """The policy a masking form describes: its operator and those of the operator's parameters filled in.

    The form shows every operator's parameters, so another operator's are ignored, not refused; the values
    themselves are checked by `ColumnPolicy` (and the policy by `check_policy`) in the catalog action."""
    policy: dict = {"op": op}
    try:
        own = PARAMS[MaskOp(op)]
    except ValueError:
        return policy  # ColumnPolicy refuses the unknown operator, naming it
    for key in sorted(own):
        raw = fields.get(key, "").strip()
        if key in _FLAG_PARAMS:
            policy[key] = raw == "1"
        elif raw and key in _INT_PARAMS + _NUM_PARAMS:
            try:
                value: float = int(raw) if key in _INT_PARAMS else float(raw)
            except ValueError:
                raise Invalid(i18n.t("zh", "dataset.err.mask_number", name=key),
                              i18n.t("en", "dataset.err.mask_number", name=key), code="invalid_mask_policy",
                              details={"param": key}) from None
            policy[key] = int(value) if isinstance(value, float) and value.is_integer() else value
        elif raw:
            policy[key] = raw
    return policy


@router.post("/catalog/{name}/mask")
def set_mask(request: Request, name: Name, column: Short = "", op: Annotated[str, Form(max_length=30)] = "",
             keep_first: MaskField = "", keep_last: MaskField = "", mask_char: MaskField = "",
             mask_len: MaskField = "", replacement: MaskField = "", band_width: MaskField = "", cap: MaskField = "",
             floor: MaskField = "", granularity: MaskField = "", region_digits: MaskField = "",
             keep_sex: MaskField = "", min_count: MaskField = "", released: MaskField = "", basis: Text = "",
             ctx: Ctx = Depends(post_ctx)):
    """A column's masking policy (脱敏策略): the provider's decision on its own data, or the security admin's,
    checked against the column's detected type and the dataset's level; a refusal says why beside the form.
    Operator staff apply a stricter policy (`redact`, or masking a kept column) and propose any other."""
    fields = {"keep_first": keep_first, "keep_last": keep_last, "mask_char": mask_char, "mask_len": mask_len,
              "replacement": replacement, "band_width": band_width, "cap": cap, "floor": floor,
              "granularity": granularity, "region_digits": region_digits, "keep_sex": keep_sex,
              "min_count": min_count, "released": released}
    form = {"column": column, "op": op, "basis": basis, **fields}
    return _change(request, ctx, name, "mask", form, lambda s, ds, decides, proposed: cat.do_set_column(
        s, ds, column, actor=ctx.actor, mask_policy=mask_policy_of(op, fields), basis=basis, decides=decides,
        proposed=proposed), "mask_set")


@router.post("/catalog/{name}/proposals/{proposal_id}")
def decide_proposal(request: Request, name: Name, proposal_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                    decision: Annotated[str, Form(max_length=10)] = "", basis: Text = "",
                    back: Annotated[str, Form(max_length=10)] = "", ctx: Ctx = Depends(post_ctx)):
    """Accept or reject a proposal (the provider for its own data, or the security admin), with the basis."""
    form_key = f"proposal-{proposal_id}"

    def do(s, ds):
        if decision not in ("accept", "reject"):
            raise Invalid(*i18n.both("proposal.err.decision"), code="invalid_decision")
        cat.do_decide_proposal(s, ds, proposal_id, accept=decision == "accept", basis=basis, actor=ctx.actor)

    ok = "proposal_accepted" if decision == "accept" else "proposal_rejected"
    r = _decide(request, ctx, name, Perm.DATASET_DECIDE, form_key, {"basis": basis}, do, ok)
    if back == "pending" and r.status_code == 303:
        return see_other("/catalog/pending", ok=ok)
    return r


@router.post("/catalog/{name}/scan")
def scan(request: Request, name: Name, ctx: Ctx = Depends(post_ctx)):
    """Detect personal information per column again and suggest a level (suggestions only)."""
    rt = ctx.rt
    return _decide(request, ctx, name, Perm.DATASET_METADATA, "scan", {},
                   lambda s, ds: cat.do_scan(s, rt.keystore, rt.suite, rt.datasets, ds, actor=ctx.actor), "scanned")
