"""The demo city: zones, organizations of every kind, a user for every role (deterministic).

Names and identifiers come from Faker `zh_CN` with a fixed seed; ID numbers, USCCs and mobile
numbers carry valid check digits. Passwords and TOTP secrets are fixed and printed: demo only.
"""

from __future__ import annotations

import base64
import hashlib

from faker import Faker
from sqlalchemy import select
from stdnum.cn import ric, uscc

from pdzone.audit.events import Action, os_actor, record
from pdzone.audit.models import AuditEvent
from pdzone.errors import Conflict
from pdzone.governance import actions as gov
from pdzone.identity import actions as ida
from pdzone.identity.models import Organization, User
from pdzone.web.runtime import Runtime

DEMO_PASSWORD = "Demo-Pdzone-2026"
_ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def demo_totp_secret(username: str) -> str:
    return base64.b32encode(hashlib.sha256(f"pdzone-demo-totp:{username}".encode()).digest()[:20]).decode()


def make_uscc(fake: Faker, region: str = "110105") -> str:
    """A USCC with valid GB 11714 organization-code and GB 32100 check characters."""
    body = "".join(fake.random_element("0123456789ABCDEFGHJKLMNPQRTUWXY"[:10]) for _ in range(8))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c, 36) * w for c, w in zip(body, weights, strict=True))
    check = 11 - total % 11
    org_code = body + ("X" if check == 10 else "0" if check == 11 else str(check))
    partial = "91" + region + org_code + "0"
    return partial[:-1] + uscc.calc_check_digit(partial)


def make_id_number(fake: Faker) -> str:
    region = fake.random_element(["110101", "110102", "110105", "110106", "110108", "110114"])
    born = fake.date_of_birth(minimum_age=24, maximum_age=60).strftime("%Y%m%d")
    seqno = f"{fake.random_int(0, 999):03d}"
    partial = region + born + seqno + "0"
    return partial[:-1] + ric.calc_check_digit(partial)


ZONES = [
    ("bj_comprehensive", "北京市公共数据综合基础专区", "comprehensive", "北京市经济和信息化局"),
    ("bj_transport", "北京市交通领域公共数据专区", "domain", "北京市交通委员会"),
]

ORGS = [  # name, kind, zone
    ("北京市经济和信息化局", "city_authority", None),
    ("北京市交通委员会", "supervisor", None),
    ("北京市市场监督管理局", "provider", "bj_comprehensive"),
    ("北京市公安局公安交通管理局", "provider", "bj_transport"),
    ("北京金融大数据有限公司", "operator", "bj_comprehensive"),
    ("北京交通数据运营有限公司", "operator", "bj_transport"),
    ("北京智慧出行科技有限公司", "partner", "bj_transport"),
    ("北京普惠征信服务有限公司", "partner", "bj_comprehensive"),
    ("北京数据要素评估专家委员会", "expert_body", None),
]

DEMO_SCENARIO = "inclusive_credit"  # the analyst's demo scenario (social_insurance, level 3)

USERS = [  # username, org, role, zone
    ("sysadmin", "北京金融大数据有限公司", "system_admin", None),
    ("secadmin", "北京金融大数据有限公司", "security_admin", None),
    ("auditor", "北京金融大数据有限公司", "auditor", None),
    ("supervisor", "北京市经济和信息化局", "supervisor", "bj_comprehensive"),
    ("transport_supervisor", "北京市交通委员会", "supervisor", "bj_transport"),
    ("expert", "北京数据要素评估专家委员会", "expert", None),
    ("provider", "北京市市场监督管理局", "provider", "bj_comprehensive"),
    ("operator", "北京金融大数据有限公司", "operator_staff", "bj_comprehensive"),
    ("transport_operator", "北京交通数据运营有限公司", "operator_staff", "bj_transport"),
    ("analyst", "北京普惠征信服务有限公司", "partner_analyst", "bj_comprehensive"),
    ("transport_analyst", "北京智慧出行科技有限公司", "partner_analyst", "bj_transport"),
]


def accounts() -> list[dict]:
    from pdzone.identity.roles import MFA_ROLES, Role

    return [{"username": u, "password": DEMO_PASSWORD, "role": r, "zone": z,
             "totp_secret": demo_totp_secret(u) if Role(r) in MFA_ROLES else None} for u, _, r, z in USERS]


def seed(rt: Runtime, *, datasets: bool = True, rows: int = 2000) -> list[dict]:
    """Seed the demo city once; later runs leave the data as it is. Returns the demo accounts."""
    actor = os_actor()
    with rt.store.transaction() as s:
        if s.scalar(select(User.id).limit(1)) is not None:
            if s.scalar(select(AuditEvent.id).where(AuditEvent.action == Action.SYSTEM_DEMO_SEED.value)) is None:
                raise Conflict("该数据库已有非演示数据，不能作为演示库使用",
                               "this database holds non-demo data: use a fresh data dir for the demo",
                               code="not_a_demo_store")
            return accounts()
        fake = Faker("zh_CN")
        fake.seed_instance(20261127)
        orgs = {}
        for name, kind, _zone in ORGS:
            if kind in ("city_authority", "supervisor"):
                orgs[name] = ida.do_create_org(s, name=name, kind=kind, uscc=make_uscc(fake), actor=actor)
        for code, name, type_, sup in ZONES:
            gov.do_create_zone(s, code=code, name=name, type=type_, supervisor=sup, actor=actor)
        for name, kind, zone in ORGS:
            if name not in orgs:
                orgs[name] = ida.do_create_org(s, name=name, kind=kind, uscc=make_uscc(fake), zone_code=zone,
                                               actor=actor)
        for username, org, role, zone in USERS:
            new = ida.do_create_user(s, rt.vault, username=username, real_name=fake.name(),
                                     id_number=make_id_number(fake), mobile=fake.phone_number(), org=orgs[org],
                                     password=DEMO_PASSWORD, actor=actor)
            secret = ida.do_grant_role(s, rt.vault, new.user, role, zone_code=zone, actor=actor)
            if secret is not None:  # demo only: a fixed, printed TOTP secret
                new.user.totp_secret_enc = rt.vault.encrypt("totp", demo_totp_secret(username))
            if role in ("operator_staff", "partner_analyst") and zone:
                ida.do_file(s, new.user, zone, reason="演示数据：已完成实名备案", actor=actor)
        record(s, actor=actor, action=Action.SYSTEM_DEMO_SEED, details={"users": len(USERS)})
    if datasets:
        seed_datasets(rt, rows=rows)
        seed_cleanroom(rt)
    rt.maintain_log(force_checkpoint=True)
    return accounts()


def seed_datasets(rt: Runtime, *, rows: int = 2000) -> None:
    """Write the demo files into the data dir and import them as their departments would send them."""
    from pdzone.catalog.actions import do_scan, import_dataset
    from pdzone.web.demo_data import DEMO_DATASETS, write_demo_files

    files = write_demo_files(rt.settings.data_dir / "demo-files", rows=rows)
    for name, zone, provider, title, level, basis, unit in DEMO_DATASETS:
        ds = import_dataset(rt.store, rt.keystore, rt.suite, rt.datasets, files[name], name=name, zone_code=zone,
                            provider=provider, actor=os_actor(), title=title, level=level, basis=basis,
                            privacy_unit=unit)
        with rt.store.transaction() as s:
            do_scan(s, rt.keystore, rt.suite, rt.datasets, s.merge(ds), actor=os_actor())


def seed_cleanroom(rt: Runtime) -> None:
    """Declare what DP needs (roles, bounds and public values from policy), register scenarios, grant them."""
    from decimal import Decimal

    from pdzone.catalog.actions import do_set_column, do_set_contributions, find_dataset
    from pdzone.cleanroom import service
    from pdzone.egress import grants as gr
    from pdzone.egress.models import DatasetCap
    from pdzone.web.demo_data import CLEANROOM_COLUMNS, CLEANROOM_GRANTS, CLEANROOM_SCENARIOS, CLEANROOM_TEMPLATES

    actor = os_actor()
    with rt.store.transaction() as s:
        for name, (contrib, columns) in CLEANROOM_COLUMNS.items():
            ds = find_dataset(s, name)
            for col, role, bounds, public, basis in columns:
                do_set_column(s, ds, col, actor=actor, role=role, bounds=bounds, public_values=public, basis=basis)
            if contrib:
                do_set_contributions(s, ds, contrib, actor=actor, basis="按月缴费，每人每年最多 12 条（政策）")
        for zone, code, name, category, desc in CLEANROOM_SCENARIOS:
            gr.do_add_scenario(s, zone_code=zone, code=code, name=name, category=category, description=desc,
                               actor=actor)
        for partner, scenario, names, eps, default, forms in CLEANROOM_GRANTS:
            org = s.scalar(select(Organization).where(Organization.name == partner))
            for n in names:
                if s.get(DatasetCap, find_dataset(s, n).id) is None:
                    gr.do_set_cap(s, find_dataset(s, n), Decimal(eps), actor=actor)
            gr.do_add_grant(s, partner=org, dataset_names=names, scenario_code=scenario, epsilon=Decimal(eps),
                            default_epsilon=Decimal(default), max_epsilon=Decimal(2), forms=forms, actor=actor)
        s.flush()
        for partner, scenario, sql, note in CLEANROOM_TEMPLATES:
            org = s.scalar(select(Organization).where(Organization.name == partner))
            grant = gr.active_grant(s, org_id=org.id, scenario_code=scenario)
            service.do_review_template(s, rt.settings, grant.id, sql, risk_note=note, actor=actor)
