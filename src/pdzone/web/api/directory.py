"""Zones, organizations, users, roles and filing (备案)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from pdzone.governance import actions as gov
from pdzone.identity import actions as ida
from pdzone.identity import queries as idq
from pdzone.identity.roles import Perm
from pdzone.web.context import Ctx, api_ctx

router = APIRouter(tags=["directory"])


class ZoneIn(BaseModel):
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    type: str = Field(max_length=20)
    supervisor: str | None = Field(default=None, max_length=200)


@router.get("/zones")
def zones(ctx: Ctx = Depends(api_ctx)):
    with ctx.rt.store.sessions() as s:
        return [gov.zone_json(z) for z in gov.list_zones(s)]


@router.post("/zones", status_code=201)
def create_zone(body: ZoneIn, ctx: Ctx = Depends(api_ctx)):
    ctx.require(Perm.ZONE_MANAGE, action="governance.zone.create")
    with ctx.rt.store.transaction() as s:
        z = gov.do_create_zone(s, code=body.code, name=body.name, type=body.type, supervisor=body.supervisor,
                               actor=ctx.actor)
        return gov.zone_json(z)


class OrgIn(BaseModel):
    name: str = Field(max_length=200)
    kind: str = Field(max_length=30)
    uscc: str = Field(max_length=30)
    zone: str | None = Field(default=None, max_length=64)


@router.get("/orgs")
def orgs(ctx: Ctx = Depends(api_ctx)):
    ctx.require(Perm.DIRECTORY_READ)
    with ctx.rt.store.sessions() as s:
        return [idq.org_json(o) for o in idq.list_orgs(s)]


@router.post("/orgs", status_code=201)
def create_org(body: OrgIn, ctx: Ctx = Depends(api_ctx)):
    ctx.require(Perm.ORG_MANAGE, action="identity.org.create")
    with ctx.rt.store.transaction() as s:
        if body.zone:
            gov.find_zone(s, body.zone)
        o = ida.do_create_org(s, name=body.name, kind=body.kind, uscc=body.uscc, zone_code=body.zone,
                              actor=ctx.actor)
        return idq.org_json(o)


class UserIn(BaseModel):
    username: str = Field(max_length=64)
    real_name: str = Field(max_length=100)
    id_number: str = Field(max_length=30)
    mobile: str = Field(max_length=20)
    org: str = Field(max_length=200)
    password: str = Field(max_length=256)


@router.get("/users")
def users(ctx: Ctx = Depends(api_ctx)):
    ctx.require(Perm.DIRECTORY_READ)
    with ctx.rt.store.sessions() as s:
        return [idq.user_json(s, u) for u in idq.list_users(s)]


@router.post("/users", status_code=201)
def create_user(body: UserIn, ctx: Ctx = Depends(api_ctx)):
    ctx.require(Perm.USER_MANAGE, action="identity.user.create")
    with ctx.rt.store.transaction() as s:
        org = ida.find_org(s, body.org)
        new = ida.do_create_user(s, ctx.rt.vault, username=body.username, real_name=body.real_name,
                                 id_number=body.id_number, mobile=body.mobile, org=org, password=body.password,
                                 actor=ctx.actor, password_min_length=ctx.rt.settings.password_min_length)
        return {**idq.user_json(s, new.user), "warnings": new.warnings}


class RoleIn(BaseModel):
    role: str = Field(max_length=30)
    zone: str | None = Field(default=None, max_length=64)


@router.post("/users/{username}/roles", status_code=201)
def grant_role(username: str, body: RoleIn, ctx: Ctx = Depends(api_ctx)):
    """Grant a role (security admin). The answer carries the TOTP secret once, if one was enrolled."""
    ctx.require(Perm.ROLE_GRANT, body.zone, action="identity.role.grant")
    with ctx.rt.store.transaction() as s:
        if body.zone:
            gov.find_zone(s, body.zone)
        user = ida.find_user(s, username)
        secret = ida.do_grant_role(s, ctx.rt.vault, user, body.role, zone_code=body.zone, actor=ctx.actor)
        return {**idq.user_json(s, user), "totp_secret": secret}


@router.delete("/users/{username}/roles", status_code=204)
def revoke_role(username: str, role: str = Query(max_length=30), zone: str | None = Query(None, max_length=64),
                ctx: Ctx = Depends(api_ctx)):
    ctx.require(Perm.ROLE_GRANT, zone, action="identity.role.revoke")
    with ctx.rt.store.transaction() as s:
        ida.do_revoke_role(s, ida.find_user(s, username), role, zone_code=zone, actor=ctx.actor)


class FilingIn(BaseModel):
    zone: str = Field(max_length=64)
    decision: str = Field(pattern="^(file|revoke)$")
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/filings")
def filings(status: str | None = Query(None, pattern="^(pending|filed|revoked)$"), ctx: Ctx = Depends(api_ctx)):
    zones = ctx.require_any(Perm.FILING_DECIDE)
    with ctx.rt.store.sessions() as s:
        return [idq.filing_json(f, u) for f, u in idq.list_filings(s, zones, status=status)]


@router.post("/users/{username}/filings")
def decide_filing(username: str, body: FilingIn, ctx: Ctx = Depends(api_ctx)):
    """File (备案) a person for a zone, or revoke the filing, with a reason (security admin)."""
    ctx.require(Perm.FILING_DECIDE, body.zone, action=f"identity.filing.{body.decision}")
    with ctx.rt.store.transaction() as s:
        gov.find_zone(s, body.zone)
        user = ida.find_user(s, username)
        do = ida.do_file if body.decision == "file" else ida.do_revoke_filing
        f = do(s, user, body.zone, reason=body.reason, actor=ctx.actor)
        return idq.filing_json(f, user)


@router.get("/users/{username}/filed")
def filed(username: str, zone: str = Query(max_length=64), ctx: Ctx = Depends(api_ctx)):
    """Is this person filed for this zone? (the check other areas make)"""
    ctx.require_any(Perm.DIRECTORY_READ)
    with ctx.rt.store.sessions() as s:
        user = ida.find_user(s, username)
        return {"username": username, "zone": zone, "filed": ida.is_filed(s, user.id, zone)}


