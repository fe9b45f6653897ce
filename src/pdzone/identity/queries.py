"""Reads of the directory, shaped for the API and console (ID numbers only ever masked)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pdzone.identity.actions import roles_of
from pdzone.identity.models import Filing, Organization, User
from pdzone.identity.validators import mask_mobile


def list_orgs(session: Session) -> list[Organization]:
    return list(session.scalars(select(Organization).order_by(Organization.id)))


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def org_json(o: Organization) -> dict:
    return {"id": o.id, "name": o.name, "kind": o.kind, "uscc": o.uscc, "zone": o.zone_code,
            "disabled": o.disabled}


def user_json(session: Session, u: User) -> dict:
    return {"id": u.id, "username": u.username, "real_name": u.real_name, "id_number": u.id_number_masked,
            "mobile": mask_mobile(u.mobile), "org_id": u.org_id, "disabled": u.disabled,
            "mfa_enrolled": u.totp_secret_enc is not None,
            "roles": [{"role": r.value, "zone": z} for r, z in roles_of(session, u.id)]}


def list_filings(session: Session, zones: set[str | None], *, status: str | None = None):
    q = select(Filing, User).join(User, User.id == Filing.user_id)
    if None not in zones:
        q = q.where(Filing.zone_code.in_([z for z in zones if z]))
    if status:
        q = q.where(Filing.status == status)
    return [tuple(r) for r in session.execute(q.order_by(Filing.id))]


def filing_json(f: Filing, u: User) -> dict:
    return {"id": f.id, "username": u.username, "real_name": u.real_name, "zone": f.zone_code,
            "status": f.status, "request_reason": f.request_reason, "decision_reason": f.decision_reason,
            "decided_by": f.decided_by, "requested_at": f.requested_at, "decided_at": f.decided_at}
