"""A small city for clean-room tests: a zone, a provider, a partner with a filed analyst, datasets
whose DP metadata (roles, bounds, public values, contribution bound) is declared, and grants."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pdzone.audit.events import os_actor
from pdzone.catalog import actions as cat
from pdzone.egress import grants as gr
from pdzone.identity import actions as ida
from pdzone.identity import auth
from pdzone.web.runtime import Runtime
from tests import factories as f
from tests.conftest import make_runtime

DISTRICTS = ["东城区", "西城区", "朝阳区", "海淀区"]
KINDS = ["门诊", "住院", "药店"]


def people_table(n_people: int = 400, rows_per: int = 3, seed: int = 7) -> pa.Table:
    """Payments: several rows per person; 区 has public values, 类别 does not."""
    rng = random.Random(seed)
    pid, dist, kind, amount, age, street = [], [], [], [], [], []
    for p in range(n_people):
        d = DISTRICTS[p % len(DISTRICTS)]
        a = 20 + p % 60
        st = f"街道{p % 10}" if p < n_people - 5 else f"小巷{p}"  # the last five people each live alone
        for _ in range(rows_per):
            pid.append(f"P{p:06d}")
            dist.append(d)
            kind.append(rng.choice(KINDS))
            amount.append(round(rng.uniform(0, 100), 2))
            age.append(a)
            street.append(st)
    return pa.table({"人员编号": pid, "区": dist, "类别": kind, "金额": amount, "年龄": age, "街道": street})


@dataclass
class City:
    rt: Runtime
    zone: str
    partner_id: int
    analyst: auth.Principal
    secadmin: auth.Principal
    provider_org: str

    def env(self):
        return self.rt.cleanroom()


def login(rt: Runtime, username: str, otp: str | None = None) -> tuple[auth.Principal, str]:
    with rt.store.transaction() as s:
        res = auth.check_login(s, rt.vault, rt.settings, username=username, password=f.PASSWORD, otp=otp)
    assert res.token, res.error
    return auth.resolve_token(rt.store, rt.vault, rt.settings, res.token), res.token


def import_table(rt: Runtime, tmp: Path, table: pa.Table, *, name: str, zone: str, provider: str, level: int,
                 unit: str | None, columns: dict, contributions: int | None = None) -> None:
    path = tmp / f"{name}.parquet"
    pq.write_table(table, path)
    cat.import_dataset(rt.store, rt.keystore, rt.suite, rt.datasets, path, name=name, zone_code=zone,
                       provider=provider, actor=os_actor(), level=level, basis="测试定级", privacy_unit=unit)
    with rt.store.transaction() as s:
        ds = cat.find_dataset(s, name)
        for col, (role, bounds, public) in columns.items():
            cat.do_set_column(s, ds, col, actor=os_actor(), role=role, bounds=bounds, public_values=public,
                              basis="政策")
        if contributions:
            cat.do_set_contributions(s, ds, contributions, actor=os_actor(), basis="政策")


PAY_COLUMNS = {"人员编号": ("join_key", None, None), "区": ("dimension", None, DISTRICTS),
               "类别": ("dimension", None, None), "金额": ("measure", (0.0, 100.0), None),
               "年龄": ("measure", (0.0, 120.0), None), "街道": ("dimension", None, None)}


def build_city(rt: Runtime, tmp: Path, *, table: pa.Table | None = None, epsilon: str = "10",
               default_epsilon: str = "1") -> City:
    table = table if table is not None else people_table()
    with rt.store.transaction() as s:
        f.zone(s, "zone_a")
        f.org(s, "测试数据局", kind="provider", zone_code="zone_a")
        partner = f.org(s, "测试合作方", kind="partner", zone_code="zone_a")
        analyst, _ = f.user(s, rt.vault, partner, "analyst", role="partner_analyst", zone_code="zone_a")
        ida.do_file(s, analyst, "zone_a", reason="测试备案", actor=os_actor())
        _, secret = f.user(s, rt.vault, f.org(s, kind="operator", zone_code="zone_a"), "secadmin",
                             role="security_admin")
        partner_id = partner.id
    for name, level in (("pay3", 3), ("pay4", 4), ("pay2", 2), ("pay1", 1)):
        import_table(rt, tmp, table, name=name, zone="zone_a", provider="测试数据局", level=level, unit="人员编号",
                     columns=PAY_COLUMNS, contributions=3)
    with rt.store.transaction() as s:
        gr.do_add_scenario(s, zone_code="zone_a", code="research", name="研究", category="public_interest",
                           actor=os_actor())
        gr.do_add_scenario(s, zone_code="zone_a", code="rows_scn", name="逐行", category="industry",
                           actor=os_actor())
        from pdzone.identity.models import Organization

        org = s.get(Organization, partner_id)
        for n in ("pay3", "pay4", "pay2", "pay1"):
            gr.do_set_cap(s, cat.find_dataset(s, n), Decimal(epsilon), actor=os_actor())
        gr.do_add_grant(s, partner=org, dataset_names=["pay3", "pay4", "pay2", "pay1"], scenario_code="research",
                        epsilon=Decimal(epsilon), default_epsilon=Decimal(default_epsilon), max_epsilon=Decimal(5),
                        actor=os_actor())
        gr.do_add_grant(s, partner=org, dataset_names=["pay1"], scenario_code="rows_scn", epsilon=Decimal(1),
                        forms=["aggregate", "rows"], actor=os_actor())
    import pyotp

    analyst_p, _ = login(rt, "analyst")
    sec_p, _ = login(rt, "secadmin", pyotp.TOTP(secret).now())
    return City(rt, "zone_a", partner_id, analyst_p, sec_p, "测试数据局")


@pytest.fixture
def city(tmp_path, db_url):
    rt = make_runtime(tmp_path, db_url)
    c = build_city(rt, tmp_path)
    yield c
    rt.store.dispose()


@pytest.fixture
def sqlite_city(tmp_path):
    rt = make_runtime(tmp_path, f"sqlite:///{tmp_path}/pdzone.db")
    c = build_city(rt, tmp_path)
    yield c
    rt.store.dispose()


def ask(city: City, sql: str, scenario: str = "research", epsilon=None) -> dict:
    from pdzone.cleanroom import service

    return service.run(city.env(), city.analyst, city.analyst.actor(), sql=sql, scenario=scenario, epsilon=epsilon)
