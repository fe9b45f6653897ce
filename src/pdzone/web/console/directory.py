"""Organizations and users (system admin writes, security admin reads), staff filing (备案) and
role grants (security admin). ID and mobile numbers only ever appear masked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request

from pdzone.errors import PdzoneError
from pdzone.governance import actions as gov
from pdzone.identity import actions as ida
from pdzone.identity import queries as idq
from pdzone.identity.actions import FilingStatus, OrgKind
from pdzone.identity.roles import Perm, Role
from pdzone.web.console.base import ConsoleRoute, note_refusal, page_ctx, post_ctx, render, see_other
from pdzone.web.context import Ctx

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Short = Annotated[str, Form(max_length=200)]


# --- organizations and users ---------------------------------------------------------------

def _directory(request: Request, ctx: Ctx, *, status: int = 200, ok: str | None = None,
               org_error: str | None = None, user_error: str | None = None, org_form: dict | None = None,
               user_form: dict | None = None, warnings: list[str] | None = None):
    with ctx.rt.store.sessions() as s:
        orgs = idq.list_orgs(s)
        users = [idq.user_json(s, u) for u in idq.list_users(s)]
        zones = gov.list_zones(s)
    p = ctx.principal
    return render(request, "console/directory.html", ctx=ctx, status=status, page="/directory", ok=ok,
                  orgs=orgs, org_names={o.id: o.name for o in orgs}, users=users,
                  zone_names={z.code: z.name for z in zones}, kinds=[k.value for k in OrgKind],
                  can_add_org=p.can(Perm.ORG_MANAGE), can_add_user=p.can(Perm.USER_MANAGE),
                  org_error=org_error, user_error=user_error, org_form=org_form or {}, user_form=user_form or {},
                  warnings=warnings or [], password_min=ctx.rt.settings.password_min_length)


@router.get("/directory")
def directory(request: Request, ok: str | None = None, ctx: Ctx = Depends(page_ctx)):
    ctx.require(Perm.DIRECTORY_READ)
    return _directory(request, ctx, ok=ok)


@router.post("/directory/orgs")
def create_org(request: Request, name: Short = "", kind: Short = "", uscc: Short = "", zone: Short = "",
               ctx: Ctx = Depends(post_ctx)):
    ctx.require(Perm.ORG_MANAGE, action="identity.org.create")
    form = {"name": name, "kind": kind, "uscc": uscc, "zone": zone}
    try:
        with ctx.rt.store.transaction() as s:
            if zone:
                gov.find_zone(s, zone)
            ida.do_create_org(s, name=name, kind=kind, uscc=uscc, zone_code=zone or None, actor=ctx.actor)
    except PdzoneError as e:
        note_refusal(request, e)
        return _directory(request, ctx, status=e.status, org_error=e.message(ctx.lang), org_form=form)
    return see_other("/directory", ok="org_created")


@router.post("/directory/users")
def create_user(request: Request, username: Short = "", real_name: Short = "", id_number: Short = "",
                mobile: Short = "", org: Short = "", password: Annotated[str, Form(max_length=256)] = "",
                ctx: Ctx = Depends(post_ctx)):
    """Real-name registration (实名注册). The ID number, mobile and password are never echoed back."""
    ctx.require(Perm.USER_MANAGE, action="identity.user.create")
    try:
        with ctx.rt.store.transaction() as s:
            new = ida.do_create_user(s, ctx.rt.vault, username=username, real_name=real_name, id_number=id_number,
                                     mobile=mobile, org=ida.find_org(s, org), password=password, actor=ctx.actor,
                                     password_min_length=ctx.rt.settings.password_min_length)
    except PdzoneError as e:
        note_refusal(request, e)
        return _directory(request, ctx, status=e.status, user_error=e.message(ctx.lang),
                          user_form={"username": username, "real_name": real_name, "org": org})
    if new.warnings:
        return _directory(request, ctx, ok="user_created", warnings=new.warnings)
    return see_other("/directory", ok="user_created")


# --- filing (备案) and roles ---------------------------------------------------------------

def _filings(request: Request, ctx: Ctx, *, status: int = 200, ok: str | None = None,
             row_error: tuple[str, str] | None = None, role_error: str | None = None, role_form: dict | None = None,
             totp: tuple[str, str] | None = None):
    p = ctx.principal
    filing_zones = p.zones_with(Perm.FILING_DECIDE)
    can_grant = bool(p.zones_with(Perm.ROLE_GRANT))
    groups: dict[str, list[dict]] = {st.value: [] for st in FilingStatus}
    with ctx.rt.store.sessions() as s:
        for f, u in idq.list_filings(s, filing_zones) if filing_zones else []:
            groups.setdefault(f.status, []).append(idq.filing_json(f, u))
        users = [(u.username, u.real_name) for u in idq.list_users(s)] if can_grant else []
        zones = gov.list_zones(s)
    return render(request, "console/filings.html", ctx=ctx, status=status, page="/filings", ok=ok,
                  groups=groups, statuses=[st.value for st in FilingStatus], can_file=bool(filing_zones),
                  can_grant=can_grant, users=users, roles=[r.value for r in Role],
                  zone_names={z.code: z.name for z in zones}, row_error=row_error, role_error=role_error,
                  role_form=role_form or {}, totp=totp)


@router.get("/filings")
def filings(request: Request, ok: str | None = None, ctx: Ctx = Depends(page_ctx)):
    if not ctx.principal.zones_with(Perm.ROLE_GRANT):
        ctx.require_any(Perm.FILING_DECIDE)
    return _filings(request, ctx, ok=ok)


@router.post("/filings/decide")
def decide_filing(request: Request, username: Short = "", zone: Short = "",
                  decision: Annotated[str, Form(pattern="^(file|revoke)$")] = "file",
                  reason: Annotated[str, Form(max_length=2000)] = "", ctx: Ctx = Depends(post_ctx)):
    """File (备案) a person for a zone, or revoke the filing; a reason is required."""
    ctx.require(Perm.FILING_DECIDE, zone or None, action=f"identity.filing.{decision}")
    try:
        with ctx.rt.store.transaction() as s:
            gov.find_zone(s, zone)
            user = ida.find_user(s, username)
            do = ida.do_file if decision == "file" else ida.do_revoke_filing
            do(s, user, zone, reason=reason, actor=ctx.actor)
    except PdzoneError as e:
        note_refusal(request, e)
        return _filings(request, ctx, status=e.status, row_error=(f"{username}|{zone}", e.message(ctx.lang)))
    return see_other("/filings", ok="filed" if decision == "file" else "revoked")


@router.post("/filings/roles")
def grant_role(request: Request, username: Short = "", role: Short = "", zone: Short = "",
               ctx: Ctx = Depends(post_ctx)):
    """Grant a role. A new one-time-code secret is shown once, on this answer only."""
    zone_code = zone or None
    ctx.require(Perm.ROLE_GRANT, zone_code, action="identity.role.grant")
    try:
        with ctx.rt.store.transaction() as s:
            if zone_code:
                gov.find_zone(s, zone_code)
            user = ida.find_user(s, username)
            secret = ida.do_grant_role(s, ctx.rt.vault, user, role, zone_code=zone_code, actor=ctx.actor)
    except PdzoneError as e:
        note_refusal(request, e)
        return _filings(request, ctx, status=e.status, role_error=e.message(ctx.lang),
                        role_form={"username": username, "role": role, "zone": zone})
    if secret:
        return _filings(request, ctx, ok="role_granted", totp=(username, secret))
    return see_other("/filings", ok="role_granted")
