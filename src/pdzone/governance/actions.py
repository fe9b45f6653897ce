"""Zone registry (R-2, R-8)."""

from __future__ import annotations

import re
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from pdzone.audit.events import Action, Actor, record
from pdzone.db import utcnow
from pdzone.errors import Conflict, Invalid, NotFound
from pdzone.governance.models import Zone
from pdzone.identity.actions import OrgKind, find_org

_CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


class ZoneType(StrEnum):
    DOMAIN = "domain"              # 领域类
    REGIONAL = "regional"          # 区域类
    COMPREHENSIVE = "comprehensive"  # 综合基础类


ZONE_TYPE_NAMES = {ZoneType.DOMAIN: ("领域类", "Domain"), ZoneType.REGIONAL: ("区域类", "Regional"),
                   ZoneType.COMPREHENSIVE: ("综合基础类", "Comprehensive")}


def do_create_zone(session: Session, *, code: str, name: str, type: str, supervisor: str | None,
                   actor: Actor) -> Zone:
    if not _CODE.match(code):
        raise Invalid("专区代码须为小写字母开头的 2-64 位小写字母、数字或下划线",
                      "a zone code is 2-64 of a-z 0-9 _, starting with a letter", code="invalid_zone_code")
    try:
        zt = ZoneType(type)
    except ValueError as e:
        raise Invalid(f"未知的专区类型：{type}", f"unknown zone type: {type}", code="invalid_zone_type",
                      details={"allowed": [t.value for t in ZoneType]}) from e
    if not name.strip():
        raise Invalid("专区名称不能为空", "a zone name is required", code="invalid_name")
    sup_id = None
    if supervisor:
        org = find_org(session, supervisor)
        if org.kind not in (OrgKind.SUPERVISOR, OrgKind.CITY_AUTHORITY):
            raise Invalid("监管单位须为监管部门或市级主管部门", "the supervisor must be a supervisor or the city "
                          "authority", code="invalid_supervisor")
        sup_id = org.id
    if session.scalar(select(Zone.id).where(Zone.code == code)) is not None:
        raise Conflict("专区代码已存在", "a zone with this code exists", code="zone_exists")
    zone = Zone(code=code, name=name.strip(), type=zt.value, supervisor_org_id=sup_id, created_at=utcnow())
    session.add(zone)
    session.flush()
    record(session, actor=actor, action=Action.ZONE_CREATE, target_type="zone", target_id=code, zone=code,
           details={"name": zone.name, "type": zt.value, "supervisor_org_id": sup_id})
    return zone


def find_zone(session: Session, code: str) -> Zone:
    zone = session.scalar(select(Zone).where(Zone.code == code))
    if zone is None:
        raise NotFound(f"找不到专区：{code}", f"no zone {code}", code="zone_not_found")
    return zone


def list_zones(session: Session) -> list[Zone]:
    return list(session.scalars(select(Zone).order_by(Zone.code)))


def zone_json(z: Zone) -> dict:
    return {"code": z.code, "name": z.name, "type": z.type, "supervisor_org_id": z.supervisor_org_id}
