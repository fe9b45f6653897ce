"""Console plumbing: templates, the session cookie, CSRF tokens, error pages, redirects.

Every console route is a `ConsoleRoute`: a domain error raised while serving a page becomes an
HTML page in the reader's language (never JSON, never a stack trace), and a missing or expired
session becomes a redirect to /login.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from pdzone.errors import Forbidden, Invalid, PdzoneError, Unauthorized
from pdzone.identity.auth import Principal
from pdzone.identity.roles import Perm
from pdzone.web import i18n
from pdzone.web.context import SESSION_COOKIE, Ctx, authenticate, bearer, request_id, request_lang
from pdzone.web.runtime import Runtime

log = logging.getLogger("pdzone.web.console")

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LOGIN_CSRF_COOKIE = "pdz_login_csrf"
BEIJING = dt.timezone(dt.timedelta(hours=8), "UTC+8")  # China keeps no daylight saving time

env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                         undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def bj_time(value: dt.datetime | str | None) -> str:
    """A UTC time (datetime or ISO string) as Beijing time, to the second."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


env.filters["bjtime"] = bj_time
env.globals.update(t=i18n.t, role_name=i18n.role_name, org_kind_name=i18n.org_kind_name,
                   zone_type_name=i18n.zone_type_name, action_name=i18n.action_name, HTML_LANG=i18n.HTML_LANG)


# --- navigation and rendering --------------------------------------------------------------

def nav_items(p: Principal) -> list[tuple[str, str]]:
    """The sections the caller may open, as (path, message id)."""
    items = [("/", "nav.home")]
    if p.zones_with(Perm.DIRECTORY_READ):
        items.append(("/directory", "nav.directory"))
    if p.zones_with(Perm.FILING_DECIDE) or p.zones_with(Perm.ROLE_GRANT):
        items.append(("/filings", "nav.filings"))
    if p.zones_with(Perm.AUDIT_READ):
        items.append(("/log", "nav.log"))
    if p.zones_with(Perm.AUDIT_READ) or p.zones_with(Perm.CHECKPOINT_COSIGN):
        items.append(("/checkpoints", "nav.checkpoints"))
    return items


def here(request: Request) -> str:
    q = request.url.query
    return request.url.path + (f"?{q}" if q else "")


def render(request: Request, template: str, *, ctx: Ctx | None = None, status: int = 200,
           page: str | None = None, ok: str | None = None, **values: Any) -> HTMLResponse:
    """Render a console template in the request's language.

    `page` is the GET address of what is shown (for the language switch after a POST);
    `ok` names a success message (`ok.<name>`), shown only if it exists.
    """
    lang = ctx.lang if ctx else request_lang(request)
    page = page or here(request)
    ok_key = f"ok.{ok}" if ok and f"ok.{ok}" in i18n.MESSAGES else None
    html = env.get_template(template).render(
        lang=lang, _=lambda key, /, **kw: i18n.t(lang, key, **kw), ctx=ctx,
        principal=ctx.principal if ctx else None, nav=nav_items(ctx.principal) if ctx else [],
        csrf=csrf_token(request, ctx) if ctx else "", page=page,
        current=page.split("?", 1)[0], ok_message=i18n.t(lang, ok_key) if ok_key else None,
        request_id=request_id(request), **values)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def see_other(path: str, **query: str) -> RedirectResponse:
    """Post/redirect/get: 303 to a console page, with an optional `ok=` message id."""
    q = urlencode({k: v for k, v in query.items() if v})
    return RedirectResponse(path + (f"?{q}" if q else ""), status_code=303)


def safe_next(value: str | None, default: str = "/") -> str:
    """Only a local path is a place to go back to (no //host, no scheme, no backslash tricks)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 1000:
        return default
    return value


def secure_cookies(request: Request) -> bool:
    return request.url.scheme == "https"


# --- sessions and CSRF --------------------------------------------------------------------

def _mac(rt: Runtime, purpose: bytes, value: str) -> str:
    return rt.suite.hmac(rt.keystore.secret("csrf"), purpose + b"\x00" + value.encode()).hex()


def csrf_token(request: Request, ctx: Ctx) -> str:
    """The hidden-field value of console forms: a keyed MAC of the session token (synchronizer token
    without server state; it changes with every login)."""
    token = bearer(request) or request.cookies.get(SESSION_COOKIE, "")
    return _mac(ctx.rt, b"console-session", token)


def login_csrf(request: Request) -> tuple[str, str]:
    """(cookie nonce, form field) of the pre-session login form: a signed double-submit token."""
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not 20 <= len(nonce) <= 100:
        nonce = secrets.token_urlsafe(32)
    return nonce, _mac(request.app.state.runtime, b"console-login", nonce)


def check_login_csrf(request: Request, field: str) -> bool:
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not nonce or not field:
        return False
    return hmac.compare_digest(field.encode(), _mac(request.app.state.runtime, b"console-login", nonce).encode())


def page_ctx(request: Request) -> Ctx:
    """Dependency of console pages: the signed-in caller (cookie session), or Unauthorized."""
    ctx = authenticate(request, allow_cookie=True)
    request.state.console_ctx = ctx
    return ctx


def post_ctx(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Ctx:
    """Dependency of console forms: the signed-in caller, after checking the form's CSRF token."""
    ctx = page_ctx(request)
    if not hmac.compare_digest(csrf.encode(), csrf_token(request, ctx).encode()):
        raise Forbidden(*i18n.both("error.csrf"), code="csrf_failed")
    return ctx


# --- errors --------------------------------------------------------------------------------

def note_refusal(request: Request, err: PdzoneError) -> None:
    """Record a refusal that `Ctx.require` did not already record (CSRF, separation of duties, not your
    key...), as the API does: every denied attempt of a signed-in caller is in the operation log."""
    ctx = getattr(request.state, "console_ctx", None)
    if err.status == 403 and ctx is not None and not getattr(err, "recorded", False):
        ctx.record_denial(err, f"{request.method} {request.url.path}")
        err.recorded = True  # type: ignore[attr-defined]


def to_login(request: Request, *, expired: bool) -> RedirectResponse:
    query = {"next": here(request) if request.method == "GET" else "/"}
    if expired:
        query["expired"] = "1"
    resp = RedirectResponse("/login?" + urlencode(query, quote_via=quote), status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=secure_cookies(request))
    return resp


def error_page(request: Request, err: PdzoneError) -> HTMLResponse:
    ctx = getattr(request.state, "console_ctx", None)
    lang = ctx.lang if ctx else request_lang(request)
    title = f"error.title.{err.status}"
    if title not in i18n.MESSAGES:
        title = "error.title.generic"
    return render(request, "console/error.html", ctx=ctx, status=err.status, page="/",
                  title_key=title, message=err.message(lang), code=err.code)


class ConsoleRoute(APIRoute):
    """Turns errors into console pages: Unauthorized → /login, other domain errors → an HTML page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except Unauthorized as e:
                return to_login(request, expired=e.code in ("token_expired", "invalid_token"))
            except PdzoneError as e:
                note_refusal(request, e)
                return error_page(request, e)
            except RequestValidationError:
                return error_page(request, Invalid(*i18n.both("error.invalid_form"), code="invalid_request"))
            except StarletteHTTPException as e:
                if e.status_code != 400:  # a form body that cannot be parsed (a broken multipart, ...)
                    raise
                return error_page(request, Invalid(*i18n.both("error.invalid_form"), code="invalid_request"))
            except Exception:
                log.exception("console error", extra={"request_id": request_id(request)})
                return error_page(request, PdzoneError(*i18n.both("error.internal"), code="internal_error",
                                                       status=500))

        return handler
