"""Who may do what with a dataset: the role table, plus the two conditions roles carry.

A provider acts only on its own organization's datasets; operator staff and partner analysts
act only in zones they are filed (备案) for.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from pdzone.catalog.models import Dataset
from pdzone.errors import Forbidden
from pdzone.identity.actions import is_filed
from pdzone.identity.auth import Principal
from pdzone.identity.roles import FILED_ROLES, PERMISSIONS, Perm, Role


def allowed(session: Session, p: Principal, perm: Perm, zone: str, ds: Dataset | None = None) -> str | None:
    """None when allowed, else the refusal's code (forbidden, not_filed, not_your_data)."""
    if p.scopes is not None and perm.value not in p.scopes:
        return "forbidden"
    if p.token_zone is not None and p.token_zone != zone:
        return "forbidden"
    reason = "forbidden"
    for role, z in p.roles:
        if perm not in PERMISSIONS[role] or (z is not None and z != zone):
            continue
        if role == Role.PROVIDER and ds is not None and ds.provider_org_id != p.org_id:
            reason = "not_your_data"
            continue
        if role in FILED_ROLES and not is_filed(session, p.user_id, zone):
            reason = "not_filed"
            continue
        return None
    return reason


_MESSAGES = {
    "forbidden": ("没有执行此操作的权限", "you do not have permission for this"),
    "not_filed": ("您尚未在该专区备案，不能处理其数据", "you are not filed (备案) for this zone"),
    "not_your_data": ("只能处理本单位提供的数据", "you may act only on your own organization's datasets"),
}


def check(session: Session, p: Principal, perm: Perm, zone: str, ds: Dataset | None = None) -> None:
    code = allowed(session, p, perm, zone, ds)
    if code is not None:
        raise Forbidden(*_MESSAGES[code], code=code, details={"permission": perm.value})


def visible_zones(p: Principal) -> set[str | None]:
    return p.zones_with(Perm.CATALOG_READ)


def may_decide(session: Session, p: Principal, ds: Dataset) -> bool:
    """Whether the caller decides for `ds` (provider: own data; security admin), or may only propose (filed
    operator staff). Anyone else is refused with the reason the decision was refused for."""
    code = allowed(session, p, Perm.DATASET_DECIDE, ds.zone_code, ds)
    if code is None:
        return True
    staff = allowed(session, p, Perm.DATASET_METADATA, ds.zone_code, ds)
    if staff is None:
        return False
    reason = code if code != "forbidden" else staff
    raise Forbidden(*_MESSAGES[reason], code=reason, details={"permission": Perm.DATASET_DECIDE.value})
