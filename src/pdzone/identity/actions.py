"""Everything that changes identity: organizations, users, roles, filing (备案). R-21.1.

Each action adds its audit event to the caller's session; the caller commits once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pdzone.audit.events import Action, Actor, Outcome, record
from pdzone.crypto import Vault
from pdzone.db import utcnow
from pdzone.errors import Conflict, Forbidden, Invalid, NotFound
from pdzone.identity import validators
from pdzone.identity.models import Filing, Organization, RoleAssignment, User
from pdzone.identity.passwords import check_password_policy, hash_password, new_totp_secret
from pdzone.identity.roles import ADMIN_ROLES, FILED_ROLES, MFA_ROLES, Role

_USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{2,63}$")


class OrgKind(StrEnum):
    CITY_AUTHORITY = "city_authority"
    SUPERVISOR = "supervisor"
    PROVIDER = "provider"
    OPERATOR = "operator"
    PARTNER = "partner"
    EXPERT_BODY = "expert_body"


class FilingStatus(StrEnum):
    PENDING = "pending"
    FILED = "filed"
    REVOKED = "revoked"


ORG_KIND_NAMES = {
    OrgKind.CITY_AUTHORITY: ("市级主管部门", "City authority"),
    OrgKind.SUPERVISOR: ("专区监管部门", "Zone supervisor"),
    OrgKind.PROVIDER: ("数据提供部门", "Data provider department"),
    OrgKind.OPERATOR: ("专区运营单位", "Zone operator"),
    OrgKind.PARTNER: ("合作方", "Partner"),
    OrgKind.EXPERT_BODY: ("评审专家机构", "Expert body"),
}


def _add_unique(session: Session, obj, zh: str, en: str, code: str) -> None:
    """Add and flush `obj` in a savepoint: a unique index that a racing twin hit first gives Conflict."""
    try:
        with session.begin_nested():  # the savepoint first: begin_nested flushes what is pending
            session.add(obj)
    except IntegrityError as e:
        raise Conflict(zh, en, code=code) from e


# --- organizations -------------------------------------------------------------------------

def check_org_kind(kind: str) -> OrgKind:
    try:
        return OrgKind(kind)
    except ValueError as e:
        raise Invalid(f"未知的机构类型：{kind}", f"unknown organization kind: {kind}",
                      code="invalid_org_kind", details={"allowed": [k.value for k in OrgKind]}) from e


def do_create_org(session: Session, *, name: str, kind: str, uscc: str, zone_code: str | None = None,
                  actor: Actor) -> Organization:
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("机构名称不能为空且不超过 200 字", "an organization name is 1-200 characters",
                      code="invalid_name")
    org = Organization(name=name, kind=check_org_kind(kind).value, uscc=validators.check_uscc(uscc),
                       zone_code=zone_code, created_at=utcnow())
    if session.scalar(select(Organization.id).where(
            (Organization.name == org.name) | (Organization.uscc == org.uscc))) is not None:
        raise Conflict("同名或同一信用代码的机构已存在", "an organization with this name or USCC exists",
                       code="org_exists")
    _add_unique(session, org, "机构已存在", "organization exists", "org_exists")
    record(session, actor=actor, action=Action.ORG_CREATE, target_type="organization", target_id=org.id,
           zone=zone_code, details={"name": org.name, "kind": org.kind, "uscc": org.uscc})
    return org


def find_org(session: Session, ref: str) -> Organization:
    """An organization by its name or its USCC."""
    ref = ref.strip()
    org = session.scalar(select(Organization).where(
        (Organization.name == ref) | (Organization.uscc == ref.upper())))
    if org is None:
        raise NotFound(f"找不到机构：{ref}", f"no organization named or coded {ref}", code="org_not_found")
    return org


# --- users ---------------------------------------------------------------------------------

@dataclass
class NewUser:
    user: User
    warnings: list[str] = field(default_factory=list)
    totp_secret: str | None = None


def find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"找不到用户：{username}", f"no user {username}", code="user_not_found")
    return user


def do_create_user(session: Session, vault: Vault, *, username: str, real_name: str, id_number: str,
                   mobile: str, org: Organization, password: str, actor: Actor,
                   password_min_length: int = 10) -> NewUser:
    """Register a real-name user (实名注册). The ID number is encrypted; only a keyed hash is indexed."""
    username = username.strip()
    if not _USERNAME.match(username):
        raise Invalid("用户名须为 3-64 位小写字母、数字、点、下划线或连字符，以字母开头",
                      "a username is 3-64 of a-z 0-9 . _ -, starting with a letter", code="invalid_username")
    real_name = real_name.strip()
    if not real_name or len(real_name) > 100:
        raise Invalid("姓名不能为空", "a real name is required", code="invalid_real_name")
    checked = validators.check_id_number(id_number)
    mobile = validators.check_mobile(mobile)
    check_password_policy(password, username=username, min_length=password_min_length)
    if org.disabled:
        raise Invalid("机构已停用", "the organization is disabled", code="org_disabled")
    index = vault.blind_index("id_number", checked.value)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict("用户名已被使用", "the username is taken", code="username_taken")
    if session.scalar(select(User.id).where(User.id_number_index == index)) is not None:
        raise Conflict("该身份证号码已注册", "a user with this ID number exists", code="id_number_taken")
    user = User(username=username, real_name=real_name, id_number_enc=vault.encrypt("id_number", checked.value),
                id_number_index=index, id_number_masked=validators.mask_id_number(checked.value),
                mobile=mobile, org_id=org.id, password_hash=hash_password(password), created_at=utcnow())
    _add_unique(session, user, "用户已存在", "user exists", "user_exists")
    record(session, actor=actor, action=Action.USER_CREATE, target_type="user", target_id=user.id,
           details={"username": username, "org_id": org.id, "id_number": user.id_number_masked,
                    "warnings": checked.warnings})
    return NewUser(user, checked.warnings)


def do_set_password(session: Session, user: User, password: str, *, actor: Actor, min_length: int = 10) -> None:
    check_password_policy(password, username=user.username, min_length=min_length)
    user.password_hash = hash_password(password)
    record(session, actor=actor, action=Action.USER_PASSWORD_CHANGE, target_type="user", target_id=user.id)


def do_disable_user(session: Session, user: User, *, actor: Actor) -> None:
    user.disabled = True
    record(session, actor=actor, action=Action.USER_DISABLE, target_type="user", target_id=user.id)


# --- roles ---------------------------------------------------------------------------------

def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError as e:
        raise Invalid(f"未知的角色：{role}", f"unknown role: {role}", code="invalid_role",
                      details={"allowed": [r.value for r in Role]}) from e


def roles_of(session: Session, user_id: int) -> list[tuple[Role, str | None]]:
    rows = session.execute(select(RoleAssignment.role, RoleAssignment.zone_code)
                           .where(RoleAssignment.user_id == user_id)).all()
    return [(Role(r), z) for r, z in rows]


def do_grant_role(session: Session, vault: Vault, user: User, role: str, *, zone_code: str | None,
                  actor: Actor) -> str | None:
    """Grant a role. Returns a new TOTP secret when the role needs a second factor the user lacks.

    Separation of duties (三权分立): one account holds at most one of the three admin roles.
    """
    r = check_role(role)
    if actor.user_id is not None and actor.user_id == user.id:
        raise Forbidden("不能给自己授予角色", "you cannot grant a role to yourself", code="self_grant")
    # Grants to one user are serialised by a lock on the user's row (PostgreSQL; SQLite has one writer),
    # so the check below sees every committed grant; a unique index backs it for platform-wide roles.
    session.execute(select(User.id).where(User.id == user.id).with_for_update())
    held = roles_of(session, user.id)
    if r in ADMIN_ROLES:
        clash = {h for h, _ in held if h in ADMIN_ROLES and h != r}
        if clash:
            raise Forbidden(f"三权分立：该账号已担任{'、'.join(sorted(clash))}，不能再担任 {r.value}",
                            f"separation of duties: the account already holds {', '.join(sorted(clash))}",
                            code="separation_of_duties")
    if (r, zone_code) in held:
        raise Conflict("该用户已有此角色", "the user already holds this role", code="role_exists")
    uid = user.id
    try:  # the checks above read; the unique indexes decide when grants race (migration 0008)
        with session.begin_nested():  # the savepoint first: begin_nested flushes what is pending
            session.add(RoleAssignment(user_id=uid, role=r.value, zone_code=zone_code, granted_at=utcnow(),
                                       granted_by=actor.name))
    except IntegrityError as e:
        if r in ADMIN_ROLES and any(h in ADMIN_ROLES and h != r for h, _ in roles_of(session, uid)):
            raise Forbidden("三权分立：该账号已担任另一管理员角色", "separation of duties: the account already "
                            "holds another admin role", code="separation_of_duties") from e
        raise Conflict("该用户已有此角色", "the user already holds this role", code="role_exists") from e
    secret = None
    if r in MFA_ROLES and user.totp_secret_enc is None:
        secret = new_totp_secret()
        user.totp_secret_enc = vault.encrypt("totp", secret)
    record(session, actor=actor, action=Action.ROLE_GRANT, target_type="user", target_id=user.id,
           zone=zone_code, details={"role": r.value, "zone": zone_code, "mfa_enrolled": secret is not None})
    if r in FILED_ROLES and zone_code:
        _ensure_filing_request(session, user, zone_code, reason=f"role {r.value}", actor=actor)
    return secret


def do_revoke_role(session: Session, user: User, role: str, *, zone_code: str | None, actor: Actor) -> None:
    r = check_role(role)
    ra = session.scalar(select(RoleAssignment).where(
        RoleAssignment.user_id == user.id, RoleAssignment.role == r.value,
        RoleAssignment.zone_code.is_(None) if zone_code is None else RoleAssignment.zone_code == zone_code))
    if ra is None:
        raise NotFound("该用户没有此角色", "the user does not hold this role", code="role_not_found")
    session.delete(ra)
    record(session, actor=actor, action=Action.ROLE_REVOKE, target_type="user", target_id=user.id,
           zone=zone_code, details={"role": r.value, "zone": zone_code})


def totp_secret(vault: Vault, user: User) -> str | None:
    return vault.decrypt("totp", user.totp_secret_enc) if user.totp_secret_enc else None


# --- filing (备案) ------------------------------------------------------------------------

def _filing(session: Session, user: User, zone_code: str) -> Filing | None:
    return session.scalar(select(Filing).where(Filing.user_id == user.id, Filing.zone_code == zone_code))


def _ensure_filing_request(session: Session, user: User, zone_code: str, *, reason: str, actor: Actor) -> Filing:
    f = _filing(session, user, zone_code)
    if f is None:
        f = Filing(user_id=user.id, zone_code=zone_code, status=FilingStatus.PENDING.value,
                   request_reason=reason, requested_at=utcnow())
        session.add(f)
        session.flush()
        record(session, actor=actor, action=Action.FILING_REQUEST, target_type="user", target_id=user.id,
               zone=zone_code, details={"reason": reason})
    return f


def do_request_filing(session: Session, user: User, zone_code: str, *, reason: str, actor: Actor) -> Filing:
    f = _filing(session, user, zone_code)
    if f is not None and f.status != FilingStatus.REVOKED:
        raise Conflict("已有备案申请或已备案", "a filing is already pending or filed", code="filing_exists")
    if f is not None:
        f.status, f.request_reason, f.requested_at = FilingStatus.PENDING.value, reason, utcnow()
        f.decided_at = f.decided_by = f.decision_reason = None
        record(session, actor=actor, action=Action.FILING_REQUEST, target_type="user", target_id=user.id,
               zone=zone_code, details={"reason": reason})
        return f
    return _ensure_filing_request(session, user, zone_code, reason=reason, actor=actor)


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise Invalid("须说明理由", "a reason is required", code="reason_required")
    return reason


def do_file(session: Session, user: User, zone_code: str, *, reason: str, actor: Actor) -> Filing:
    """File (备案) a person for a zone: pending (or new) → filed."""
    reason = _reason(reason)
    if actor.user_id is not None and actor.user_id == user.id:
        raise Forbidden("不能为自己备案", "you cannot file yourself", code="self_filing")
    f = _filing(session, user, zone_code) or _ensure_filing_request(session, user, zone_code, reason=reason,
                                                                    actor=actor)
    if f.status == FilingStatus.FILED:
        raise Conflict("该人员已备案", "the person is already filed", code="already_filed")
    f.status, f.decision_reason, f.decided_by, f.decided_at = FilingStatus.FILED.value, reason, actor.name, utcnow()
    record(session, actor=actor, action=Action.FILING_FILE, target_type="user", target_id=user.id,
           zone=zone_code, details={"reason": reason})
    return f


def do_revoke_filing(session: Session, user: User, zone_code: str, *, reason: str, actor: Actor) -> Filing:
    reason = _reason(reason)
    f = _filing(session, user, zone_code)
    if f is None or f.status == FilingStatus.REVOKED:
        raise NotFound("没有可撤销的备案", "no filing to revoke", code="filing_not_found")
    f.status, f.decision_reason, f.decided_by, f.decided_at = (FilingStatus.REVOKED.value, reason, actor.name,
                                                               utcnow())
    record(session, actor=actor, action=Action.FILING_REVOKE, target_type="user", target_id=user.id,
           zone=zone_code, details={"reason": reason})
    return f


def is_filed(session: Session, user_id: int, zone_code: str) -> bool:
    """Is this person filed (已备案) for this zone? Other areas call this before zone data work."""
    return session.scalar(select(Filing.id).where(
        Filing.user_id == user_id, Filing.zone_code == zone_code,
        Filing.status == FilingStatus.FILED.value)) is not None


def filing_zones(session: Session, user: User) -> list[str]:
    """Zones a user should be filed for: those of their zone-scoped roles, else their org's zone."""
    zones = sorted({z for r, z in roles_of(session, user.id) if z})
    if not zones:
        org = session.get(Organization, user.org_id)
        if org is not None and org.zone_code:
            zones = [org.zone_code]
    return zones


def record_denied(session: Session, *, actor: Actor, action: str, reason: str, zone: str | None = None,
                  target_type: str | None = None, target_id: object = None) -> None:
    record(session, actor=actor, action=action, outcome=Outcome.DENIED, zone=zone, target_type=target_type,
           target_id=target_id, details={"reason": reason})
