"""Sign in (username, password, one-time code), sign out, and the language switch."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse

from pdzone.errors import PdzoneError
from pdzone.identity import auth as id_auth
from pdzone.web.api.auth import login
from pdzone.web.console.base import (
    LOGIN_CSRF_COOKIE,
    ConsoleRoute,
    check_login_csrf,
    login_csrf,
    post_ctx,
    render,
    safe_next,
    secure_cookies,
    see_other,
)
from pdzone.web.context import LANG_COOKIE, SESSION_COOKIE, Ctx, request_lang

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _login_page(request: Request, *, status: int = 200, error: str | None = None, notice: str | None = None,
                username: str = "", next_: str = "/"):
    nonce, field = login_csrf(request)
    resp = render(request, "console/login.html", status=status, error=error, notice=notice, username=username,
                  next=safe_next(next_), login_csrf=field, page="/login?next=" + quote(safe_next(next_), safe=""))
    if request.cookies.get(LOGIN_CSRF_COOKIE) != nonce:
        resp.set_cookie(LOGIN_CSRF_COOKIE, nonce, path="/login", httponly=True, samesite="strict",
                        secure=secure_cookies(request))
    return resp


@router.get("/login")
def login_form(request: Request, next: str = "/", expired: str | None = None, bye: str | None = None):
    notice = "login.expired" if expired else "login.signed_out" if bye else None
    return _login_page(request, notice=notice, next_=next)


@router.post("/login")
def login_submit(request: Request, username: Annotated[str, Form(max_length=64)] = "",
                 password: Annotated[str, Form(max_length=256)] = "", otp: Annotated[str, Form(max_length=10)] = "",
                 csrf: Annotated[str, Form(max_length=200)] = "", next: Annotated[str, Form(max_length=1000)] = "/"):
    """Check the credentials (the attempt is audited either way); on success set the session cookie."""
    if not check_login_csrf(request, csrf):
        return _login_page(request, status=403, notice="login.csrf_failed", username=username, next_=next)
    try:
        res = login(request, username.strip(), password, otp.strip() or None)
    except PdzoneError as e:
        return _login_page(request, status=e.status, error=e.message(request_lang(request)), username=username,
                           next_=next)
    rt = request.app.state.runtime
    resp = RedirectResponse(safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, res.token or "", max_age=rt.settings.session_max_age_s, path="/",
                    httponly=True, samesite="lax", secure=secure_cookies(request))
    return resp


@router.post("/logout")
def logout(request: Request, ctx: Ctx = Depends(post_ctx)):
    with ctx.rt.store.transaction() as s:
        id_auth.do_logout(s, ctx.principal, actor=ctx.actor)
    resp = see_other("/login", bye="1")
    resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies(request))
    return resp


@router.get("/lang/{lang}")
def switch_language(request: Request, lang: Annotated[str, Path(pattern="^(zh|en)$")], next: str = "/"):
    """Remember the reader's language (a preference cookie; nothing on the server changes)."""
    resp = RedirectResponse(safe_next(next), status_code=303)
    resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, path="/", samesite="lax",
                    secure=secure_cookies(request))
    return resp
