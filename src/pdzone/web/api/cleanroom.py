"""The clean room over the API: queries, dry runs, mocks, budgets, approvals, scenarios and grants.

In SQL a dataset is the table named by its dataset `name`; Chinese column names work when quoted.
Answers leave only through the egress gate (see `pdzone.cleanroom.service.run`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from pdzone.catalog import access
from pdzone.catalog import actions as cat
from pdzone.cleanroom import mock, service
from pdzone.egress import gate
from pdzone.egress import grants as gr
from pdzone.errors import NotFound, PdzoneError
from pdzone.identity.models import Organization
from pdzone.identity.roles import Perm
from pdzone.web.context import I64, Ctx, api_ctx

router = APIRouter(prefix="/cleanroom", tags=["cleanroom"])
Id = Annotated[int, Path(ge=1, le=I64)]
Code = Annotated[str, Query(min_length=1, max_length=64)]


class QueryIn(BaseModel):
    sql: str = Field(min_length=1, max_length=20_000)
    scenario: str = Field(min_length=1, max_length=64)
    epsilon: str | int | float | None = None


def _refusal(ctx: Ctx, err: PdzoneError, action: str) -> None:
    if err.status in (403,):
        ctx.record_denial(err, action)


@router.post("/queries", responses={202: {"description": "held for the security admin's approval"}})
async def run_query(body: QueryIn, ctx: Ctx = Depends(api_ctx)):
    """Run a query within a grant: 200 with columns, rows and the receipt, or 202 when held for approval."""
    env = ctx.rt.cleanroom()
    try:
        out = await run_in_threadpool(service.run, env, ctx.principal, ctx.actor, sql=body.sql,
                                      scenario=body.scenario, epsilon=body.epsilon)
    except PdzoneError as e:
        await run_in_threadpool(_refusal, ctx, e, "cleanroom.query.run")
        raise
    if out.get("status") == "pending":
        return JSONResponse(out, status_code=202)
    return out


@router.post("/dry-run")
def dry_run(body: QueryIn, ctx: Ctx = Depends(api_ctx)):
    """What the query would cost and how accurate it would be; reads no data, spends nothing."""
    return service.dry_run(ctx.rt.cleanroom(), ctx.principal, sql=body.sql, scenario=body.scenario,
                           epsilon=body.epsilon)


@router.get("/queries")
def history(limit: int = Query(50, ge=1, le=500), ctx: Ctx = Depends(api_ctx)):
    """The caller's own queries, newest first."""
    with ctx.rt.store.sessions() as s:
        return service.history(s, ctx.principal, limit=limit)


@router.get("/queries/{query_id}")
def get_query(query_id: Id, ctx: Ctx = Depends(api_ctx)):
    """A held query's state; once approved, its owner's next look runs it (charged once, then stored)."""
    env = ctx.rt.cleanroom()
    with ctx.rt.store.sessions() as s:
        q = service.find_query(s, ctx.principal, query_id)
        doc = service.query_json(q)
        mine = q.user_id == ctx.principal.user_id
    if mine and doc["status"] in ("approved", "answered"):
        out = service.run(env, ctx.principal, ctx.actor, sql=doc["sql"], scenario=doc["scenario"],
                          epsilon=Decimal(doc["epsilon"]))
        return {**doc, "status": "answered", **out}
    return doc


@router.get("/receipts/{event_id}")
def receipt(event_id: Id, ctx: Ctx = Depends(api_ctx)):
    """One of the caller's receipts: its operation-log `seq` once integrated, and the digest of what left."""
    with ctx.rt.store.sessions() as s:
        return service.receipt_status(s, ctx.principal, event_id)


class DecisionIn(BaseModel):
    approve: bool
    note: str = Field(default="", max_length=2000)


@router.get("/approvals")
def approvals(ctx: Ctx = Depends(api_ctx)):
    """Level-4 queries waiting for the security admin."""
    ctx.require_any(Perm.CLEANROOM_APPROVE)
    with ctx.rt.store.sessions() as s:
        return service.pending(s, ctx.principal)


@router.post("/approvals/{query_id}")
def decide(query_id: Id, body: DecisionIn, ctx: Ctx = Depends(api_ctx)):
    ctx.require_any(Perm.CLEANROOM_APPROVE)
    return service.decide(ctx.rt.cleanroom(), ctx.principal, ctx.actor, query_id, approve=body.approve,
                          note=body.note)


@router.get("/budget")
def budget(scenario: Code, ctx: Ctx = Depends(api_ctx)):
    """The caller's grant for a scenario: ε total, spent and left, per grant and per dataset."""
    with ctx.rt.store.sessions() as s:
        g = gr.active_grant(s, org_id=ctx.principal.org_id, scenario_code=scenario)
        access.check(s, ctx.principal, Perm.CLEANROOM_QUERY, g.zone_code)
        return {"scenario": scenario, "grants": [gr.budget_view(s, g)]}


@router.get("/schema")
def schema(scenario: Code, ctx: Ctx = Depends(api_ctx)):
    """The datasets granted for a scenario, with columns, roles, bounds and public values (metadata)."""
    with ctx.rt.store.sessions() as s:
        g = gr.active_grant(s, org_id=ctx.principal.org_id, scenario_code=scenario)
        access.check(s, ctx.principal, Perm.CLEANROOM_QUERY, g.zone_code)
        return {"scenario": scenario, "grant_id": g.id, "datasets": service.schema_json(s, g)}


@router.get("/mock/{dataset}")
def mock_data(dataset: Annotated[str, Path(max_length=64)], rows: int = Query(1000, ge=1, le=mock.MAX_MOCK_ROWS),
              ctx: Ctx = Depends(api_ctx)):
    """Synthetic rows with the dataset's schema, made from metadata only (no real value is read)."""
    zones = ctx.require_any(Perm.CATALOG_READ)
    with ctx.rt.store.sessions() as s:
        ds = cat.find_dataset(s, dataset)
        if None not in zones and ds.zone_code not in zones:
            raise NotFound(f"找不到数据集：{dataset}", f"no dataset named {dataset}", code="dataset_not_found")
        return mock.mock_rows(s, ds, rows, coarse=gate.coarse_for(ctx.principal, ds))


# --- scenarios, grants, caps (security admin) ------------------------------------------------

class ScenarioIn(BaseModel):
    zone: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    category: str = Field(max_length=20)
    description: str = Field(default="", max_length=4000)


@router.get("/scenarios")
def scenarios(ctx: Ctx = Depends(api_ctx)):
    ctx.require_any(Perm.CATALOG_READ)
    with ctx.rt.store.sessions() as s:
        return service.scenarios_json(s)


@router.post("/scenarios", status_code=201)
def add_scenario(body: ScenarioIn, ctx: Ctx = Depends(api_ctx)):
    ctx.require(Perm.GRANT_MANAGE, body.zone)
    with ctx.rt.store.transaction() as s:
        sc = gr.do_add_scenario(s, zone_code=body.zone, code=body.code, name=body.name, category=body.category,
                                description=body.description, actor=ctx.actor)
        return {"code": sc.code, "zone": sc.zone_code, "name": sc.name, "category": sc.category}


class GrantIn(BaseModel):
    partner_org_id: int = Field(ge=1, le=I64)
    datasets: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=50)
    scenario: str = Field(min_length=1, max_length=64)
    epsilon: str | int | float
    default_epsilon: str | int | float | None = None
    min_epsilon: str | int | float | None = None
    max_epsilon: str | int | float | None = None
    delta: str | int | float = 1e-5
    forms: list[str] = Field(default_factory=lambda: ["aggregate"], max_length=5)
    expires: dt.date | None = None


@router.get("/grants")
def grants(ctx: Ctx = Depends(api_ctx)):
    """Grants: the security admin sees those of their zones; a partner sees its own."""
    with ctx.rt.store.sessions() as s:
        zones = ctx.principal.zones_with(Perm.GRANT_MANAGE)
        if zones:
            rows = [g for g in gr.grants_of(s) if None in zones or g.zone_code in zones]
        else:
            ctx.require_any(Perm.CLEANROOM_QUERY)
            rows = gr.grants_of(s, org_id=ctx.principal.org_id)
        return [gr.budget_view(s, g) for g in rows]


@router.post("/grants", status_code=201)
def add_grant(body: GrantIn, ctx: Ctx = Depends(api_ctx)):
    with ctx.rt.store.sessions() as s:
        zone = gr.find_scenario(s, body.scenario).zone_code
    ctx.require(Perm.GRANT_MANAGE, zone)  # a refusal is recorded in its own transaction: check before writing
    with ctx.rt.store.transaction() as s:
        org = s.get(Organization, body.partner_org_id)
        if org is None:
            raise NotFound("找不到该机构", "no such organization", code="org_not_found")
        expires = dt.datetime.combine(body.expires, dt.time(23, 59, 59), dt.UTC) if body.expires else None
        g = gr.do_add_grant(s, partner=org, dataset_names=body.datasets, scenario_code=body.scenario,
                            epsilon=body.epsilon, default_epsilon=body.default_epsilon, min_epsilon=body.min_epsilon,
                            max_epsilon=body.max_epsilon, delta=body.delta, forms=body.forms, expires_at=expires,
                            actor=ctx.actor)
        return gr.budget_view(s, g)


@router.post("/grants/{grant_id}/revoke")
def revoke_grant(grant_id: Id, ctx: Ctx = Depends(api_ctx)):
    with ctx.rt.store.sessions() as s:
        zone = gr.find_grant(s, grant_id).zone_code
    ctx.require(Perm.GRANT_MANAGE, zone)
    with ctx.rt.store.transaction() as s:
        g = gr.find_grant(s, grant_id)
        gr.do_revoke_grant(s, g, actor=ctx.actor)
        return gr.budget_view(s, g)


class TemplateIn(BaseModel):
    sql: str = Field(min_length=1, max_length=20_000)
    risk_note: str = Field(default="", max_length=2000)


@router.post("/grants/{grant_id}/templates")
def preapprove(grant_id: Id, body: TemplateIn, ctx: Ctx = Depends(api_ctx)):
    """Review a query template for a grant. Level 4: matching queries are not held. Level 2: matching
    queries are answered exactly with the k threshold (parameters public values only; `risk_note`, the
    template's differencing risk, is required)."""
    ctx.require_any(Perm.CLEANROOM_APPROVE)
    return service.preapprove(ctx.rt.cleanroom(), ctx.principal, ctx.actor, grant_id, body.sql,
                              risk_note=body.risk_note)


@router.get("/grants/{grant_id}/templates")
def templates(grant_id: Id, ctx: Ctx = Depends(api_ctx)):
    """The grant's reviewed templates with their review (level, SQL, risk note, who, when)."""
    ctx.require_any(Perm.CLEANROOM_APPROVE)
    with ctx.rt.store.sessions() as s:
        return service.list_templates(s, ctx.principal, grant_id)


class CapIn(BaseModel):
    epsilon: str | int | float
    delta: str | int | float | None = None


@router.put("/caps/{dataset}")
def set_cap(dataset: Annotated[str, Path(max_length=64)], body: CapIn, ctx: Ctx = Depends(api_ctx)):
    """The per-dataset cap on any one partner's total ε, across all grants and scenarios."""
    with ctx.rt.store.sessions() as s:
        zone = cat.find_dataset(s, dataset).zone_code
    ctx.require(Perm.GRANT_MANAGE, zone)
    with ctx.rt.store.transaction() as s:
        ds = cat.find_dataset(s, dataset)
        gr.do_set_cap(s, ds, body.epsilon, delta=body.delta, actor=ctx.actor)
        return {"dataset": ds.name, "cap": str(gr.from_nano(gr.dataset_cap(s, ds))),
                "delta_cap": float(gr.dataset_delta_cap(s, ds) * gr.FEMTO)}
