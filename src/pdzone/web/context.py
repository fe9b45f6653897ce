"""Per-request context: the runtime, the caller, where they call from, and the language."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from pdzone.audit.events import Actor
from pdzone.errors import Forbidden, PdzoneError, Unauthorized
from pdzone.identity.actions import record_denied
from pdzone.identity.auth import Principal, cached_principal, resolve_token
from pdzone.identity.roles import Perm
from pdzone.web.runtime import Runtime

# Largest id or position the databases hold (BIGINT); larger numbers are refused as input, not sent to SQL.
I64 = 2**63 - 1

SESSION_COOKIE = "pdz_session"
LANG_COOKIE = "pdz_lang"


def request_lang(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE)
    if lang in ("zh", "en"):
        return lang
    accept = request.headers.get("accept-language", "")
    return "en" if accept.lower().startswith("en") else "zh"


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        request.state.request_id = rid
    return rid


def client_ip(request: Request) -> str | None:
    """The caller's address, normalised (`ipaddress`): an IPv4-mapped IPv6 address is its IPv4 one, IPv6 is
    compressed and lower-case. Behind a trusted proxy the address is what X-Forwarded-For said; text that is
    no address (`not-an-ip`, `010.22.3.7`, `10.77.0.25778`) is taken as no address (None): such callers
    share one sign-in throttle, whatever they write, and the log records no address for them."""
    return normalise_ip(request.client.host if request.client else None)


def normalise_ip(text: str | None) -> str | None:
    if not text:
        return None
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(addr)


@dataclass
class Ctx:
    rt: Runtime
    principal: Principal
    ip: str | None
    request_id: str
    lang: str

    @property
    def actor(self) -> Actor:
        return self.principal.actor(source_ip=self.ip, request_id=self.request_id)

    def require(self, perm: Perm, zone: str | None = None, *, action: str | None = None) -> None:
        """Raise Forbidden unless the caller holds `perm` (in `zone`); the denial is recorded."""
        if self.principal.can(perm, zone):
            return
        with self.rt.store.transaction() as s:
            record_denied(s, actor=self.actor, action=action or perm.value, zone=zone,
                          reason=f"missing permission {perm.value}")
        err = Forbidden("没有执行此操作的权限", "you do not have permission for this", code="forbidden",
                        details={"permission": perm.value})
        err.recorded = True  # type: ignore[attr-defined]
        raise err

    def record_denial(self, err: PdzoneError, action: str) -> None:
        """Record a refusal an action raised (separation of duties, not your key, ...)."""
        with self.rt.store.transaction() as s:
            record_denied(s, actor=self.actor, action=action, reason=err.code)

    def log_reader_zones(self) -> set[str | None]:
        """Zones whose operation log the caller may read: auditors, and supervisors (who countersign)."""
        zones = self.principal.zones_with(Perm.AUDIT_READ) | self.principal.zones_with(Perm.CHECKPOINT_COSIGN)
        if not zones:
            self.require(Perm.AUDIT_READ)
        return zones

    def require_any(self, perm: Perm) -> set[str | None]:
        zones = self.principal.zones_with(perm)
        if not zones:
            self.require(perm)
        return zones


def bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def authenticate(request: Request, *, allow_cookie: bool) -> Ctx:
    rt: Runtime = request.app.state.runtime
    token = bearer(request) or (request.cookies.get(SESSION_COOKIE) if allow_cookie else None)
    if not token:
        raise Unauthorized("请先登录", "sign in first", code="not_authenticated")
    p = resolve_token(rt.store, rt.vault, rt.settings, token)
    return Ctx(rt, p, client_ip(request), request_id(request), request_lang(request))


async def api_ctx(request: Request) -> Ctx:
    """FastAPI dependency for /api/v1 routes: bearer token only (the console has its own forms).

    Async so that a cached token costs no thread hop; a cache miss reads the database in a thread.
    """
    rt: Runtime = request.app.state.runtime
    token = bearer(request)
    if not token:
        raise Unauthorized("请先登录", "sign in first", code="not_authenticated")
    p = cached_principal(rt.vault, rt.settings, token)
    if p is None:
        p = await run_in_threadpool(resolve_token, rt.store, rt.vault, rt.settings, token)
    ctx = Ctx(rt, p, client_ip(request), request_id(request), request_lang(request))
    request.state.ctx = ctx
    return ctx


def error_body(err: PdzoneError, lang: str, rid: str | None = None) -> dict:
    body = {"code": err.code, "message": err.message(lang), "message_zh": err.zh, "message_en": err.en}
    if err.details:
        body["details"] = err.details
    if rid:
        body["request_id"] = rid
    return body
