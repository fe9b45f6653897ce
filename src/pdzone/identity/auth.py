"""Authentication: login with lockout and TOTP, console sessions and scoped API tokens.

Tokens are random secrets; only their hash is stored. Resolving a token reads the database at
most once per `token_cache_ttl_s` per process (a revoked token stops working within that time
on every worker), and `last_used_at` is written at most once a minute, best effort and after the
reads, so an authenticated GET does not write and never fails on a busy database: the idle timeout
is enforced with minute precision. Sign-in attempts are throttled per (account, source address) and
per address (docs/threat-model.md#sign-in).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import logging
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import case, delete, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from pdzone.audit.events import Action, Actor, Outcome, record
from pdzone.config import Settings
from pdzone.crypto import Vault
from pdzone.db import Store, UTCDateTime, utcnow
from pdzone.errors import Forbidden, Invalid, PdzoneError, Unauthorized
from pdzone.identity.actions import roles_of, totp_secret
from pdzone.identity.models import AccessToken, LoginThrottle, Organization, User
from pdzone.identity.passwords import totp_step, verify_password
from pdzone.identity.roles import MFA_ROLES, PERMISSIONS, SCOPES, Perm, Role

log = logging.getLogger("pdzone.identity")
SQLITE_BUSY_TIMEOUT_MS = 10000  # what pdzone.db sets on every SQLite connection
TOKEN_PREFIX = "pdz_"
TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user acting through a session or an API token."""

    user_id: int
    username: str
    real_name: str
    org_id: int
    org_name: str
    roles: tuple[tuple[Role, str | None], ...]
    token_id: int
    token_kind: str
    scopes: frozenset[str] | None  # None: all of the user's permissions
    token_zone: str | None
    expires_at: dt.datetime

    def actor(self, *, source_ip: str | None = None, request_id: str | None = None) -> Actor:
        name = f"user:{self.username}" if self.token_kind == "session" else f"token:{self.token_id}"
        return Actor(name=name, user_id=self.user_id, org_id=self.org_id, token_id=self.token_id,
                     source_ip=source_ip, request_id=request_id)

    def zones_with(self, perm: Perm) -> set[str | None]:
        """Zones where the caller holds `perm`; None in the set means platform-wide."""
        if self.scopes is not None and perm.value not in self.scopes:
            return set()
        out = {z for r, z in self.roles if perm in PERMISSIONS[r]}
        if self.token_zone is not None:
            out = {self.token_zone} if (None in out or self.token_zone in out) else set()
        return out

    def can(self, perm: Perm, zone: str | None = None) -> bool:
        zones = self.zones_with(perm)
        return None in zones or (zone is not None and zone in zones)

    def has_role(self, role: Role) -> bool:
        return any(r == role for r, _ in self.roles)


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


# --- login ---------------------------------------------------------------------------------

@dataclass
class LoginResult:
    token: str | None = None
    principal_user: User | None = None
    expires_at: dt.datetime | None = None
    error: PdzoneError | None = None


# One answer for an unknown account, a wrong password and a throttled attempt: same status, code and
# message, and (a real argon2 check runs in every branch) the same time.
_BAD = ("用户名或密码错误，或尝试过于频繁，请稍后再试",
        "wrong username or password, or too many attempts: try again later")


def throttle_address(source_ip: str | None, ipv6_prefix: int = 64) -> str:
    """What the throttle counts by: an IPv4 address, an IPv6 address's /`ipv6_prefix` network (one client
    commonly holds a whole /64 and could rotate through it), an IPv4-mapped IPv6 address as its IPv4 one, and
    any spelling of one address as the same text; "-" for no address."""
    if not source_ip:
        return "-"
    try:
        addr = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip  # not an address (the web layer passes only addresses or None): counted as written
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, ipv6_prefix), strict=False))
    return str(addr)


def _throttle_keys(username: str, source_ip: str | None, ipv6_prefix: int = 64) -> tuple[str, str]:
    """(account-at-address key, address key): hashes, so mistyped passwords in the name field are not kept."""
    ip = throttle_address(source_ip, ipv6_prefix)
    pair = hashlib.sha256(f"pair\0{username}\0{ip}".encode()).hexdigest()
    return pair, hashlib.sha256(f"addr\0{ip}".encode()).hexdigest()


def _reserve(session: Session, key: str, limit: int, now: dt.datetime, window_s: int) -> bool:
    """Take one attempt from `key`'s window, or False when `limit` are taken: one conditional update.

    The row lock of the UPDATE (PostgreSQL re-checks the WHERE on the row it waited for; SQLite has one
    writer) makes this atomic: however many requests race, at most `limit` pass in a window.
    """
    t = LoginThrottle.__table__
    ins = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(t)
    session.execute(ins.values(key=key, attempts=0, window_start=now).on_conflict_do_nothing(index_elements=["key"]))
    cut = now - dt.timedelta(seconds=window_s)
    stale = t.c.window_start < cut
    res = session.execute(update(t).where(t.c.key == key, or_(stale, t.c.attempts < limit))
                          .values(attempts=case((stale, 1), else_=t.c.attempts + 1),
                                  window_start=case((stale, literal(now, UTCDateTime())), else_=t.c.window_start)))
    return res.rowcount == 1


def _refund(session: Session, key: str, *, clear: bool = False) -> None:
    t = LoginThrottle.__table__
    session.execute(update(t).where(t.c.key == key, t.c.attempts > 0)
                    .values(attempts=0 if clear else t.c.attempts - 1))


def _sweep(session: Session, now: dt.datetime, window_s: int) -> None:
    t = LoginThrottle.__table__
    session.execute(delete(t).where(t.c.window_start < now - dt.timedelta(seconds=window_s)))


def check_login(session: Session, vault: Vault, settings: Settings, *, username: str, password: str,
                otp: str | None, source_ip: str | None = None, request_id: str | None = None) -> LoginResult:
    """`sign_in` within the caller's one transaction (command line, tests); the caller commits."""
    return _login(lambda: contextlib.nullcontext(session), vault, settings, username=username, password=password,
                  otp=otp, source_ip=source_ip, request_id=request_id)


def sign_in(store: Store, vault: Vault, settings: Settings, *, username: str, password: str, otp: str | None,
            source_ip: str | None = None, request_id: str | None = None) -> LoginResult:
    """Check credentials, in two short transactions around the password check (the web's sign-in).

    The first reserves an attempt (committed before any password is checked, so parallel requests
    cannot outrun the count); the password is checked outside any transaction (argon2 takes tens of
    milliseconds and must not hold SQLite's write lock); the second records the outcome. A denial is
    recorded and returned, not raised, so the record is committed before the caller answers 401.
    """
    return _login(store.transaction, vault, settings, username=username, password=password, otp=otp,
                  source_ip=source_ip, request_id=request_id)


def _login(tx, vault: Vault, settings: Settings, *, username: str, password: str, otp: str | None,
           source_ip: str | None, request_id: str | None) -> LoginResult:
    now = utcnow()
    pair, addr = _throttle_keys(username, source_ip, settings.login_ipv6_prefix)
    window = settings.lockout_window_s
    with tx() as s:
        row = s.execute(select(User.id, User.password_hash).where(User.username == username)).first()
        reserved = _reserve(s, pair, settings.lockout_threshold, now, window)
        if reserved and not _reserve(s, addr, settings.login_address_threshold, now, window):
            _refund(s, pair)  # the address is spent: this attempt is not checked, so not counted
            reserved = False
        if secrets.randbelow(64) == 0:
            _sweep(s, now, window)
    # A real argon2 check in every branch: unknown and throttled accounts take the time a wrong password takes.
    ok = verify_password(row.password_hash if row is not None and reserved else None, password)
    with tx() as s:
        user = s.get(User, row.id) if row is not None else None
        anon = Actor(name=f"anonymous:{username[:64]}", source_ip=source_ip, request_id=request_id)
        actor = anon if user is None else Actor(name=f"user:{user.username}", user_id=user.id, org_id=user.org_id,
                                                 source_ip=source_ip, request_id=request_id)

        def deny(reason: str, zh: str, en: str, *, refund: bool = False) -> LoginResult:
            """Refused: recorded with its reason; `refund` gives the attempt back (the password was right)."""
            if refund:
                _refund(s, pair)
                _refund(s, addr)
            record(s, actor=actor, action=Action.LOGIN, outcome=Outcome.DENIED, target_type="user",
                   target_id=user.id if user else None, details={"reason": reason})
            return LoginResult(error=Unauthorized(zh, en, code="bad_credentials" if reason in _SAME else reason))

        if not reserved:
            return deny("throttled", *_BAD)
        if user is None:
            return deny("unknown_user", *_BAD)
        if not ok:
            return deny("bad_credentials", *_BAD)
        if user.disabled:
            return deny("account_disabled", "账号已停用", "the account is disabled", refund=True)
        org = s.get(Organization, user.org_id)
        if org is None or org.disabled:
            return deny("org_disabled", "所属机构已停用", "the organization is disabled", refund=True)
        mfa_needed = any(r in MFA_ROLES for r, _ in roles_of(s, user.id))
        if mfa_needed:
            if not otp:
                return deny("mfa_required", "该账号须输入动态口令", "this account needs its one-time code", refund=True)
            secret = totp_secret(vault, user)
            step = totp_step(secret, otp, last_step=-1) if secret else None
            if step is None:  # a wrong code counts, like a wrong password
                return deny("bad_otp", "动态口令错误或已使用", "wrong or already used one-time code")
            # The step is taken by a conditional update: of parallel sign-ins with one code, one wins.
            u = User.__table__.c
            won = s.execute(update(User.__table__).where(
                u.id == user.id, or_(u.totp_last_step.is_(None), u.totp_last_step < step))
                .values(totp_last_step=step)).rowcount == 1
            if not won:  # a replay: the holder of the password, not a guesser; not counted
                return deny("bad_otp", "动态口令错误或已使用", "wrong or already used one-time code", refund=True)
        _refund(s, pair, clear=True)
        _refund(s, addr)
        token = _new_token()
        expires = now + dt.timedelta(seconds=settings.session_max_age_s)
        at = AccessToken(user_id=user.id, kind="session", name="login", token_hash=vault.token_hash(token),
                         scopes="*", mfa=mfa_needed, created_at=now, expires_at=expires, last_used_at=now)
        s.add(at)
        s.flush()
        record(s, actor=actor, action=Action.LOGIN, target_type="user", target_id=user.id,
               details={"mfa": mfa_needed})
        return LoginResult(token=token, principal_user=user, expires_at=expires)


_SAME = frozenset({"throttled", "unknown_user", "bad_credentials"})  # all answered as bad_credentials


# --- API tokens ----------------------------------------------------------------------------

def do_issue_api_token(session: Session, vault: Vault, settings: Settings, principal: Principal, *, name: str,
                       scopes: list[str], days: int, zone_code: str | None, actor: Actor) -> tuple[str, AccessToken]:
    """Issue a scoped, expiring API token for the SDK; the secret is shown once."""
    unknown = set(scopes) - SCOPES
    if unknown or not scopes:
        raise Invalid("未知或缺少的令牌权限范围", f"unknown or missing scopes: {sorted(unknown)}",
                      code="invalid_scope", details={"allowed": sorted(SCOPES)})
    if not 1 <= days <= settings.api_token_max_days:
        raise Invalid(f"有效期须在 1 到 {settings.api_token_max_days} 天之间",
                      f"days must be 1..{settings.api_token_max_days}", code="invalid_expiry")
    if principal.token_kind != "session":
        raise Forbidden("只能在登录会话中签发令牌", "tokens are issued from a login session, not a token",
                        code="token_from_token")
    if zone_code is not None and not any(z is None or z == zone_code for _, z in principal.roles):
        raise Forbidden("令牌只能限定在本人有角色的专区", "a token can be limited only to a zone you hold a role in",
                        code="scope_exceeds_user")
    beyond = [s for s in scopes if not principal.zones_with(Perm(s))]
    if beyond:
        raise Forbidden("令牌权限不能超出本人权限", f"scopes beyond your own permissions: {beyond}",
                        code="scope_exceeds_user")
    now = utcnow()
    token = _new_token()
    at = AccessToken(user_id=principal.user_id, kind="api", name=name.strip()[:100] or "api",
                     token_hash=vault.token_hash(token), scopes=" ".join(sorted(set(scopes))), zone_code=zone_code,
                     mfa=False, created_at=now, expires_at=now + dt.timedelta(days=days), last_used_at=now)
    session.add(at)
    session.flush()
    record(session, actor=actor, action=Action.TOKEN_ISSUE, target_type="token", target_id=at.id,
           zone=zone_code, details={"scopes": sorted(set(scopes)), "days": days, "name": at.name})
    return token, at


def do_revoke_token(session: Session, token_id: int, *, principal: Principal, actor: Actor) -> None:
    at = session.get(AccessToken, token_id)
    if at is None or at.user_id != principal.user_id:
        raise Forbidden("只能撤销本人的令牌", "you can revoke only your own tokens", code="forbidden")
    at.revoked_at = utcnow()
    record(session, actor=actor, action=Action.TOKEN_REVOKE, target_type="token", target_id=at.id)
    TOKEN_CACHE.clear()


# --- resolving tokens ----------------------------------------------------------------------

class _TokenCache:
    def __init__(self) -> None:
        self._d: dict[bytes, tuple[float, Principal, dt.datetime]] = {}
        self._lock = threading.Lock()

    def get(self, key: bytes, ttl: float):
        hit = self._d.get(key)
        if hit and time.monotonic() - hit[0] < ttl:
            return hit[1], hit[2]
        return None

    def put(self, key: bytes, p: Principal, last_used: dt.datetime) -> None:
        with self._lock:
            if len(self._d) > 10000:
                self._d.clear()
            self._d[key] = (time.monotonic(), p, last_used)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


TOKEN_CACHE = _TokenCache()

_EXPIRED = ("登录已过期，请重新登录", "the session or token has expired: sign in again")


def cached_principal(vault: Vault, settings: Settings, token: str) -> Principal | None:
    """The principal from this process's cache, without touching the database; None on a miss."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthorized("缺少或无效的访问令牌", "missing or malformed token", code="invalid_token")
    hit = TOKEN_CACHE.get(vault.token_hash(token), settings.token_cache_ttl_s)
    if hit is not None:
        p, last_used = hit
        now = utcnow()
        if p.expires_at > now and (p.token_kind != "session" or
                                   (now - last_used).total_seconds() < settings.session_idle_timeout_s):
            return p
    return None


def resolve_token(store: Store, vault: Vault, settings: Settings, token: str) -> Principal:
    """The principal behind a bearer token or session cookie, or Unauthorized."""
    p = cached_principal(vault, settings, token)
    if p is not None:
        return p
    key = vault.token_hash(token)
    now = utcnow()
    t, u, o = AccessToken.__table__.c, User.__table__.c, Organization.__table__.c
    with store.engine.connect() as conn:
        row = conn.execute(
            select(t.id, t.kind, t.scopes, t.zone_code, t.expires_at, t.last_used_at, t.revoked_at,
                   u.id.label("uid"), u.username, u.real_name, u.disabled, u.org_id, o.name.label("org_name"),
                   o.disabled.label("org_disabled"))
            .select_from(AccessToken.__table__.join(User.__table__, t.user_id == u.id)
                         .join(Organization.__table__, u.org_id == o.id))
            .where(t.token_hash == key)).mappings().first()
        if row is None or row["revoked_at"] is not None or row["disabled"] or row["org_disabled"]:
            raise Unauthorized("访问令牌无效或已撤销", "invalid or revoked token", code="invalid_token")
        expires = _aware(row["expires_at"])
        last_used = _aware(row["last_used_at"])
        if expires <= now or (row["kind"] == "session"
                              and (now - last_used).total_seconds() >= settings.session_idle_timeout_s):
            raise Unauthorized(*_EXPIRED, code="token_expired")
        roles = tuple(roles_of_conn(conn, row["uid"]))
    if now - last_used >= TOUCH_EVERY and _touch(store, row["id"], now):
        last_used = now
    p = Principal(user_id=row["uid"], username=row["username"], real_name=row["real_name"], org_id=row["org_id"],
                  org_name=row["org_name"], roles=roles, token_id=row["id"], token_kind=row["kind"],
                  scopes=None if row["scopes"] == "*" else frozenset(row["scopes"].split()),
                  token_zone=row["zone_code"], expires_at=expires)
    TOKEN_CACHE.put(key, p, last_used)
    return p


def _touch(store: Store, token_id: int, now: dt.datetime) -> bool:
    """Best effort: note that a token was used, in its own short transaction after the reads.

    It never waits for a busy database and never fails the request (it used to write inside the read
    and turned SQLite's `database is locked` into 500s under load). A touch that did not land is tried
    again at the next database resolve; the idle timeout is enforced to about a minute anyway.
    """
    t = AccessToken.__table__.c
    sqlite = store.dialect == "sqlite"
    try:
        with store.engine.connect() as conn:
            raw = conn.connection.dbapi_connection if sqlite else None
            if raw is not None:  # wait at most 50 ms for the write lock, on this connection only
                raw.execute("PRAGMA busy_timeout=50")
            try:
                with conn.execution_options(pdzone_write=True).begin():
                    if not sqlite:
                        conn.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
                    conn.execute(update(AccessToken.__table__).where(t.id == token_id, t.last_used_at < now)
                                 .values(last_used_at=now))
            finally:
                if raw is not None:
                    raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        return True
    except DBAPIError:
        log.info("token %s: last use not recorded (database busy)", token_id)
        return False


def roles_of_conn(conn, user_id: int):
    from pdzone.identity.models import RoleAssignment

    ra = RoleAssignment.__table__.c
    for r, z in conn.execute(select(ra.role, ra.zone_code).where(ra.user_id == user_id)):
        yield Role(r), z


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def do_logout(session: Session, principal: Principal, *, actor: Actor) -> None:
    at = session.get(AccessToken, principal.token_id)
    if at is not None and at.revoked_at is None:
        at.revoked_at = utcnow()
    record(session, actor=actor, action=Action.LOGOUT, target_type="user", target_id=principal.user_id)
    TOKEN_CACHE.clear()
