"""The clean-room workbench (分析工作台) for partner analysts, and the approvals page for the security admin.

A partner analyst picks one of the scenarios their organization holds a grant for and sees the granted schema
(metadata only), writes SQL (Chinese column names quoted), dry-runs it (cost and accuracy, nothing read, nothing
spent), runs it (the answer through the egress gate, with its receipt), or looks at a synthetic mock of a granted
dataset. The budget meter, the query history and the recent releases sit beside the editor; a refusal is shown in
place with its message and code. Level-4 queries are held for the security admin, who approves or rejects them on
/console/approvals (R-25, R-27, R-32).

The pages only parse, authorize, call `pdzone.cleanroom.service` and `pdzone.egress.grants`, and render: every
rule (grant, analysis, ε, approval, release, budget) lives there. Forms post normally; the one script,
`workbench.js`, only draws the chart from a JSON block in the page.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from sqlalchemy.orm import Session

from pdzone.catalog import access
from pdzone.catalog import actions as cat
from pdzone.cleanroom import mock, service
from pdzone.egress import gate
from pdzone.egress import grants as gr
from pdzone.errors import Invalid, NotFound, PdzoneError
from pdzone.identity.roles import Perm
from pdzone.web import i18n
from pdzone.web.console.base import ConsoleRoute, env, note_refusal, page_ctx, post_ctx, render, see_other
from pdzone.web.console.catalog import _script_json
from pdzone.web.context import I64, Ctx

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

QueryId = Annotated[int, Path(ge=1, le=I64)]
Code = Annotated[str, Form(max_length=64)]
SqlText = Annotated[str, Form(max_length=20_000)]

MOCK_ROWS = 20          # synthetic rows shown on the page
HISTORY_ROWS = 20
# Which dataset the editor's example query uses: a DP one first (it shows the receipt's noise), never level 4
# first (it would wait for approval).
_EXAMPLE_ORDER = {3: 0, 2: 1, 1: 2, 4: 3}


# --- what the pages show -------------------------------------------------------------------

def _scenarios(s: Session, ctx: Ctx) -> list[dict]:
    """The scenarios the caller's organization holds a live grant for, in a zone where the caller may query."""
    names = {sc["code"]: sc for sc in service.scenarios_json(s)}
    out: dict[str, dict] = {}
    for g in gr.grants_of(s, org_id=ctx.principal.org_id):
        code = gr.budget_view(s, g)["scenario"]
        if code is None or code in out:
            continue
        try:
            live = gr.active_grant(s, org_id=ctx.principal.org_id, scenario_code=code)
        except PdzoneError:
            continue  # revoked or expired: no grant, no workbench
        if access.allowed(s, ctx.principal, Perm.CLEANROOM_QUERY, live.zone_code) is None:
            out[code] = {"code": code, "name": names.get(code, {}).get("name", code)}
    return list(out.values())


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def example_sql(schema: list[dict]) -> str:
    """A first query for the editor, from the granted schema: a count and a mean by a public dimension."""
    for ds in sorted(schema, key=lambda d: (_EXAMPLE_ORDER.get(d["level"], 9), d["name"])):
        dim = next((c for c in ds["columns"] if c["role"] == "dimension" and c["public_values"]), None)
        measure = next((c for c in ds["columns"] if c["role"] == "measure" and c["bounds"]), None)
        if dim is None:
            continue
        parts = [_quote(dim["name"]), "COUNT(*) AS n"]
        if measure is not None:
            parts.append(f"AVG({_quote(measure['name'])}) AS mean")
        return f"SELECT {', '.join(parts)}\nFROM {ds['name']}\nGROUP BY {_quote(dim['name'])}"
    if schema:
        return f"SELECT COUNT(*) AS n\nFROM {schema[0]['name']}"
    return ""


def _is_number(v) -> bool:
    return isinstance(v, int | float | Decimal) and not isinstance(v, bool)


def chart_of(columns: list[str], rows: list[list]) -> dict | None:
    """The quick chart: the first numeric column by the first text column (by row number when there is none)."""
    def kind(i: int) -> str | None:
        values = [r[i] for r in rows if r[i] is not None]
        if not values:
            return None
        if all(_is_number(v) for v in values):
            return "number"
        if all(isinstance(v, str) for v in values):
            return "text"
        return None

    kinds = [kind(i) for i in range(len(columns))]
    if "number" not in kinds:
        return None
    y = kinds.index("number")
    x = kinds.index("text") if "text" in kinds else None
    values = []
    for r in rows:
        v = r[y]
        values.append(float(v) if _is_number(v) and math.isfinite(float(v)) else None)
    categories = [str(r[x]) if x is not None and r[x] is not None else str(n) for n, r in enumerate(rows, 1)]
    return {"x": columns[x] if x is not None else "#", "y": columns[y], "categories": categories, "values": values}


def fmt_num(value) -> str:
    """A number for people: thousands separated, a few significant decimals."""
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if not isinstance(value, int) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}" if abs(value) >= 100_000 else f"{value:,.2f}"
    if abs(value) >= 1 or value == 0:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.4g}"


def _budget(s: Session, grant) -> dict:
    view = gr.budget_view(s, grant)
    for b in view["dataset_budgets"]:
        b["cap_f"], b["spent_f"] = float(b["cap"]), float(b["spent"])
    view["total_f"], view["spent_f"] = float(view["epsilon_total"]), float(view["epsilon_spent"])
    return view


def _workbench(request: Request, ctx: Ctx, scenario: str | None, *, status: int = 200, sql: str | None = None,
               epsilon: str = "", mock_dataset: str = "", result: dict | None = None, dry: dict | None = None,
               mock_data: dict | None = None, error: PdzoneError | None = None, pending: dict | None = None,
               held: dict | None = None):
    """The workbench of one scenario, with whatever the last action produced."""
    p = ctx.principal
    ctx.require_any(Perm.CLEANROOM_QUERY)
    with ctx.rt.store.sessions() as s:
        scenarios = _scenarios(s, ctx)
        if not scenarios and not scenario:
            return render(request, "console/workbench.html", ctx=ctx, status=status, page="/console/workbench",
                          scenarios=[], scenario=None)
        code = scenario or scenarios[0]["code"]
        grant = gr.active_grant(s, org_id=p.org_id, scenario_code=code)
        access.check(s, p, Perm.CLEANROOM_QUERY, grant.zone_code)
        schema = service.schema_json(s, grant)
        budget = _budget(s, grant)
        history = service.history(s, p, limit=HISTORY_ROWS)
        releases = service.recent_releases(s, p, limit=HISTORY_ROWS)
    names = {sc["code"]: sc["name"] for sc in scenarios}
    chart = chart_of(result["columns"], result["rows"]) if result else None
    return render(request, "console/workbench.html", ctx=ctx, status=status,
                  page="/console/workbench?scenario=" + code, scenarios=scenarios, scenario=code,
                  scenario_name=names.get(code, code), schema=schema, budget=budget,
                  sql=example_sql(schema) if sql is None else sql, epsilon=epsilon,
                  mock_dataset=mock_dataset or (schema[0]["name"] if schema else ""), result=result, dry=dry,
                  mock_data=mock_data, chart=chart, chart_json=_script_json(chart) if chart else None,
                  error=error.message(ctx.lang) if error else None, error_code=error.code if error else None,
                  error_status=error.status if error else None, error_title=_refusal_title(error),
                  pending=pending, held=held,
                  history=history, releases=releases)


def _refusal_title(error: PdzoneError | None) -> str:
    """What kind of refusal, by status: a policy (403), the budget (409), the input (400/422), anything else."""
    if error is None:
        return "wb.refused"
    key = f"wb.refused.{error.status}"
    return key if key in i18n.MESSAGES else "wb.refused"


@router.get("/console/workbench")
def workbench(request: Request, scenario: Annotated[str, Query(max_length=64)] = "", ctx: Ctx = Depends(page_ctx)):
    return _workbench(request, ctx, scenario.strip() or None)


@router.post("/console/workbench")
def act(request: Request, scenario: Code = "", sql: SqlText = "", epsilon: Annotated[str, Form(max_length=40)] = "",
        action: Annotated[str, Form(max_length=20)] = "dry_run", dataset: Code = "", ctx: Ctx = Depends(post_ctx)):
    """Dry run, run or mock, as the button said; a refusal is shown on the page with its code, the SQL kept."""
    ctx.require_any(Perm.CLEANROOM_QUERY)
    env = ctx.rt.cleanroom()
    scenario = scenario.strip()
    eps = epsilon.strip() or None
    kept = {"sql": sql, "epsilon": epsilon.strip(), "mock_dataset": dataset}
    try:
        if action == "run":
            out = service.run(env, ctx.principal, ctx.actor, sql=sql, scenario=scenario, epsilon=eps)
            if out.get("status") == "pending":
                return _workbench(request, ctx, scenario, status=202, pending=out, **kept)
            return _workbench(request, ctx, scenario, result=out, **kept)
        if action == "mock":
            return _workbench(request, ctx, scenario, mock_data=_mock(ctx, scenario, dataset), **kept)
        dry = service.dry_run(env, ctx.principal, sql=sql, scenario=scenario, epsilon=eps)
        return _workbench(request, ctx, scenario, dry=dry, **kept)
    except PdzoneError as e:
        if e.code in ("no_grant", "grant_expired") and not _has_scenario(ctx, scenario):
            raise  # no workbench to show the refusal on: the error page says it
        note_refusal(request, e)
        return _workbench(request, ctx, scenario, status=e.status, error=e, **kept)


def _has_scenario(ctx: Ctx, code: str) -> bool:
    with ctx.rt.store.sessions() as s:
        return any(sc["code"] == code for sc in _scenarios(s, ctx))


def _mock(ctx: Ctx, scenario: str, dataset: str) -> dict:
    """Synthetic rows of a granted dataset, made from its metadata only (no real value is read)."""
    with ctx.rt.store.sessions() as s:
        grant = gr.active_grant(s, org_id=ctx.principal.org_id, scenario_code=scenario)
        access.check(s, ctx.principal, Perm.CLEANROOM_QUERY, grant.zone_code)
        if dataset not in {d["name"] for d in service.schema_json(s, grant)}:
            raise NotFound(f"本场景的授权中没有数据集：{dataset}", f"no dataset {dataset} in this scenario's grant",
                           code="dataset_not_found")
        ds = cat.find_dataset(s, dataset)
        return mock.mock_rows(s, ds, MOCK_ROWS, coarse=gate.effective_level(ds) >= 3)


# --- held (level-4) queries ----------------------------------------------------------------

@router.get("/console/workbench/queries/{query_id}")
def held_query(request: Request, query_id: QueryId, ctx: Ctx = Depends(page_ctx)):
    """Where a held query stands (pending, approved, rejected, answered): a page to come back to."""
    ctx.require_any(Perm.CLEANROOM_QUERY)
    with ctx.rt.store.sessions() as s:
        doc = service.query_json(_own_query(s, ctx, query_id))
    return _workbench(request, ctx, doc["scenario"], sql=doc["sql"], epsilon=doc["epsilon"], held=doc)


@router.post("/console/workbench/queries/{query_id}/answer")
def held_answer(request: Request, query_id: QueryId, ctx: Ctx = Depends(post_ctx)):
    """The answer to an approved query (charged once, when first released; later looks come from the store)."""
    ctx.require_any(Perm.CLEANROOM_QUERY)
    with ctx.rt.store.sessions() as s:
        doc = service.query_json(_own_query(s, ctx, query_id))
    kept = {"sql": doc["sql"], "epsilon": doc["epsilon"]}
    if doc["status"] not in ("approved", "answered"):
        return _workbench(request, ctx, doc["scenario"], held=doc, **kept)
    try:
        out = service.run(ctx.rt.cleanroom(), ctx.principal, ctx.actor, sql=doc["sql"], scenario=doc["scenario"],
                          epsilon=Decimal(doc["epsilon"]))
    except PdzoneError as e:
        note_refusal(request, e)
        return _workbench(request, ctx, doc["scenario"], status=e.status, error=e, held=doc, **kept)
    return _workbench(request, ctx, doc["scenario"], result=out, **kept)


def _own_query(s: Session, ctx: Ctx, query_id: int):
    """The caller's own query (anyone else's does not exist here, as in the API)."""
    q = service.find_query(s, ctx.principal, query_id)
    if q.user_id != ctx.principal.user_id:
        raise NotFound(f"找不到查询 {query_id}", f"no query {query_id}", code="query_not_found")
    return q


# --- approvals (security admin) ------------------------------------------------------------

def _approvals(request: Request, ctx: Ctx, *, status: int = 200, error: PdzoneError | None = None,
               error_id: int | None = None, ok: str | None = None):
    ctx.require_any(Perm.CLEANROOM_APPROVE)
    with ctx.rt.store.sessions() as s:
        items = service.pending(s, ctx.principal)
    return render(request, "console/approvals.html", ctx=ctx, status=status, page="/console/approvals", ok=ok,
                  items=items, error=error.message(ctx.lang) if error else None,
                  error_code=error.code if error else None, error_id=error_id)


@router.get("/console/approvals")
def approvals(request: Request, ok: str | None = None, ctx: Ctx = Depends(page_ctx)):
    """Level-4 queries waiting for the security admin's decision."""
    return _approvals(request, ctx, ok=ok)


@router.post("/console/approvals/{query_id}")
def decide(request: Request, query_id: QueryId, decision: Annotated[str, Form(max_length=10)] = "",
           note: Annotated[str, Form(max_length=2000)] = "", ctx: Ctx = Depends(post_ctx)):
    """Approve or reject a held query (bound to its SQL, ε and parameters); recorded in the operation log."""
    ctx.require_any(Perm.CLEANROOM_APPROVE)
    if decision not in ("approve", "reject"):
        e = Invalid(*i18n.both("appr.err.decision"), code="invalid_request")
        return _approvals(request, ctx, status=e.status, error=e, error_id=query_id)
    try:
        service.decide(ctx.rt.cleanroom(), ctx.principal, ctx.actor, query_id, approve=decision == "approve",
                       note=note)
    except PdzoneError as e:
        note_refusal(request, e)
        return _approvals(request, ctx, status=e.status, error=e, error_id=query_id)
    return see_other("/console/approvals", ok="query_approved" if decision == "approve" else "query_rejected")


# --- navigation and the home page ----------------------------------------------------------

def _nav(p) -> list[tuple[str, str]]:
    items = []
    if p and p.zones_with(Perm.CLEANROOM_QUERY):
        items.append(("/console/workbench", "nav.workbench"))
    if p and p.zones_with(Perm.CLEANROOM_APPROVE):
        items.append(("/console/approvals", "nav.approvals"))
    return items


def _home_tasks(ctx: Ctx | None) -> list[tuple[str, str, dict]]:
    if ctx is None:
        return []
    p, tasks = ctx.principal, []
    if p.zones_with(Perm.CLEANROOM_QUERY):
        tasks.append(("/console/workbench", "task.workbench", {}))
    if p.zones_with(Perm.CLEANROOM_APPROVE):
        with ctx.rt.store.sessions() as s:
            n = len(service.pending(s, p))
        tasks.append(("/console/approvals", "task.approvals", {"n": n}))
    return tasks


env.globals.update(cleanroom_nav=_nav, cleanroom_tasks=_home_tasks)
env.filters["num"] = fmt_num
