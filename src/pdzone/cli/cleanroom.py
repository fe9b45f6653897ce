"""CLI for the clean room: scenarios (应用场景), grants and budgets, contribution bounds, dataset caps."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import typer

from pdzone.audit.events import os_actor
from pdzone.cli.base import _emit, _write, app, dataset_app

scenario_app = typer.Typer(help="Application scenarios (应用场景) of a zone.", no_args_is_help=True)
grant_app = typer.Typer(help="Grants: datasets for a partner and a scenario, with a privacy budget.",
                        no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")
app.add_typer(grant_app, name="grant")


@scenario_app.command("add")
def scenario_add(zone: str = typer.Option(...), code: str = typer.Option(..., help="[a-z][a-z0-9_]*, unique"),
                 name: str = typer.Option(...),
                 category: str = typer.Option(..., help="public_interest or industry"),
                 description: str = typer.Option(""), as_json: bool = typer.Option(False, "--json")):
    """Register an application scenario; every clean-room query names one."""
    from pdzone.egress import grants as gr

    def do(s, rt):
        sc = gr.do_add_scenario(s, zone_code=zone, code=code, name=name, category=category, description=description,
                                actor=os_actor())
        return {"code": sc.code, "zone": sc.zone_code, "name": sc.name, "category": sc.category}
    _emit(_write(do), as_json)


@scenario_app.command("list")
def scenario_list(as_json: bool = typer.Option(True, "--json/--table")):
    from pdzone.cleanroom.service import scenarios_json

    _emit(_write(lambda s, rt: scenarios_json(s)), as_json)


@grant_app.command("add")
def grant_add(partner: str = typer.Option(..., help="The partner organization's name or USCC"),
              dataset: list[str] = typer.Option(..., "--dataset", help="A dataset name (repeat for more)"),
              scenario: str = typer.Option(...), epsilon: str = typer.Option(..., help="Total ε of the grant"),
              default_epsilon: str | None = typer.Option(None, help="ε per query when a query names none (0.1)"),
              max_epsilon: str | None = typer.Option(None, help="Most ε one query may spend"),
              delta: float = typer.Option(1e-5, help="Total δ (DP partition selection)"),
              form: list[str] = typer.Option(["aggregate"], "--form", help="aggregate and/or rows (level 1 only)"),
              expires: dt.datetime | None = typer.Option(None, formats=["%Y-%m-%d"], help="YYYY-MM-DD"),
              as_json: bool = typer.Option(False, "--json")):
    """Grant datasets to a partner for one scenario, with a privacy budget (ε, δ) and an expiry."""
    from sqlalchemy import or_, select

    from pdzone.egress import grants as gr
    from pdzone.errors import NotFound
    from pdzone.identity.models import Organization

    def do(s, rt):
        org = s.scalar(select(Organization).where(or_(Organization.name == partner, Organization.uscc == partner)))
        if org is None:
            raise NotFound(f"找不到机构：{partner}", f"no organization {partner}", code="org_not_found")
        until = expires.replace(hour=23, minute=59, second=59, tzinfo=dt.UTC) if expires else None
        g = gr.do_add_grant(s, partner=org, dataset_names=dataset, scenario_code=scenario, epsilon=Decimal(epsilon),
                            default_epsilon=Decimal(default_epsilon) if default_epsilon else None,
                            max_epsilon=Decimal(max_epsilon) if max_epsilon else None, delta=delta, forms=form,
                            expires_at=until, actor=os_actor())
        return gr.budget_view(s, g)
    _emit(_write(do), as_json)


@grant_app.command("list")
def grant_list(as_json: bool = typer.Option(True, "--json/--table")):
    from pdzone.egress import grants as gr

    _emit(_write(lambda s, rt: [gr.budget_view(s, g) for g in gr.grants_of(s)]), as_json)


@grant_app.command("revoke")
def grant_revoke(grant_id: int, as_json: bool = typer.Option(False, "--json")):
    from pdzone.egress import grants as gr

    def do(s, rt):
        g = gr.find_grant(s, grant_id)
        gr.do_revoke_grant(s, g, actor=os_actor())
        return gr.budget_view(s, g)
    _emit(_write(do), as_json)


@grant_app.command("cap")
def grant_cap(name: str = typer.Argument(..., help="Dataset name"), epsilon: str = typer.Option(...),
              delta: float | None = typer.Option(None, help="Cap on the total δ too (default 1e-5)"),
              as_json: bool = typer.Option(False, "--json")):
    """Cap any one partner's total ε (and δ) on a dataset, across all its grants and scenarios."""
    from pdzone.catalog import actions as cat
    from pdzone.egress import grants as gr

    def do(s, rt):
        ds = cat.find_dataset(s, name)
        gr.do_set_cap(s, ds, Decimal(epsilon), delta=delta, actor=os_actor())
        return {"dataset": ds.name, "cap": str(gr.from_nano(gr.dataset_cap(s, ds))),
                "delta_cap": float(gr.dataset_delta_cap(s, ds) * gr.FEMTO)}
    _emit(_write(do), as_json)


@grant_app.command("template")
def grant_template(grant_id: int, sql: str = typer.Option(..., help="The query template (checked, normalized)"),
                   risk_note: str = typer.Option("", help="Level 2: the template's differencing risk (required)"),
                   as_json: bool = typer.Option(False, "--json")):
    """Review a query template for a grant (level 2: exact with k; level 4: not held)."""
    from pdzone.cleanroom import service

    def do(s, rt):
        return service.do_review_template(s, rt.settings, grant_id, sql, risk_note=risk_note, actor=os_actor())
    _emit(_write(do), as_json)


@grant_app.command("templates")
def grant_templates(grant_id: int, as_json: bool = typer.Option(True, "--json/--table")):
    """List a grant's reviewed templates with their review."""
    from pdzone.cleanroom import service
    from pdzone.egress import grants as gr

    def do(s, rt):
        return list(service.templates_of(gr.find_grant(s, grant_id)).values())
    _emit(_write(do), as_json)


@dataset_app.command("contributions")
def dataset_contributions(name: str, rows: int = typer.Option(..., help="Most rows of one person a DP answer uses"),
                          basis: str = typer.Option(""), as_json: bool = typer.Option(False, "--json")):
    """Decide the contribution bound L (rows per privacy unit) differential privacy uses."""
    from pdzone.catalog import actions as cat

    def do(s, rt):
        ds = cat.find_dataset(s, name)
        cat.do_set_contributions(s, ds, rows, actor=os_actor(), basis=basis)
        return {"dataset": ds.name, "max_contributions": ds.max_contributions}
    _emit(_write(do), as_json)
