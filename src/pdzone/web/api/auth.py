"""Login, logout, who am I, API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from pdzone.identity import auth as id_auth
from pdzone.identity.roles import ROLE_NAMES
from pdzone.web.context import I64, Ctx, api_ctx, client_ip, request_id

router = APIRouter(tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    otp: str | None = Field(default=None, max_length=10)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: dt.datetime


def login(request: Request, username: str, password: str, otp: str | None) -> id_auth.LoginResult:
    """Shared by the API and the console: check, commit the record, then answer."""
    rt = request.app.state.runtime
    res = id_auth.sign_in(rt.store, rt.vault, rt.settings, username=username, password=password, otp=otp,
                          source_ip=client_ip(request), request_id=request_id(request))
    if res.error:
        raise res.error
    return res


@router.post("/auth/token", response_model=TokenOut)
def issue_token(body: LoginIn, request: Request, response: Response):
    """Sign in with username, password and (for the admin roles) a TOTP code."""
    response.headers["Cache-Control"] = "no-store"  # a secret: no cache may keep it (RFC 6749 §5.1)
    response.headers["Pragma"] = "no-cache"
    res = login(request, body.username, body.password, body.otp)
    return TokenOut(access_token=res.token or "", expires_at=res.expires_at or dt.datetime.now(dt.UTC))


@router.post("/auth/logout", status_code=204)
def logout(ctx: Ctx = Depends(api_ctx)):
    with ctx.rt.store.transaction() as s:
        id_auth.do_logout(s, ctx.principal, actor=ctx.actor)


@router.get("/me")
async def me(ctx: Ctx = Depends(api_ctx)):
    p = ctx.principal
    return {"user_id": p.user_id, "username": p.username, "real_name": p.real_name, "org_id": p.org_id,
            "org_name": p.org_name, "token_kind": p.token_kind,
            "roles": [{"role": r.value, "zone": z, "name": ROLE_NAMES[r][0 if ctx.lang == "zh" else 1]}
                      for r, z in p.roles],
            "scopes": sorted(p.scopes) if p.scopes is not None else "*", "expires_at": p.expires_at}


class ApiTokenIn(BaseModel):
    name: str = Field(default="sdk", max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=20)
    days: int = Field(default=30, ge=1, le=3650)
    zone: str | None = Field(default=None, max_length=64)


@router.post("/auth/api-tokens", status_code=201)
def create_api_token(body: ApiTokenIn, response: Response, ctx: Ctx = Depends(api_ctx)):
    """Issue a scoped, expiring API token for the SDK. The secret is shown only in this answer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    with ctx.rt.store.transaction() as s:
        token, at = id_auth.do_issue_api_token(s, ctx.rt.vault, ctx.rt.settings, ctx.principal, name=body.name,
                                               scopes=body.scopes, days=body.days, zone_code=body.zone,
                                               actor=ctx.actor)
    return {"id": at.id, "token": token, "token_type": "bearer", "scopes": at.scopes.split(),
            "zone": at.zone_code, "expires_at": at.expires_at}


@router.delete("/auth/api-tokens/{token_id}", status_code=204)
def revoke_api_token(token_id: Annotated[int, Path(ge=1, le=I64)], ctx: Ctx = Depends(api_ctx)):
    with ctx.rt.store.transaction() as s:
        id_auth.do_revoke_token(s, token_id, principal=ctx.principal, actor=ctx.actor)
