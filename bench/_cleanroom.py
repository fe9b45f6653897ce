"""Setup shared by the clean-room benchmarks: a zone, a provider, a partner with a filed analyst,
datasets imported through the real import path with their DP metadata declared, and a grant."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from stdnum.cn import ric, uscc

from pdzone.audit.events import os_actor
from pdzone.catalog import actions as cat
from pdzone.egress import grants as gr
from pdzone.governance.actions import do_create_zone
from pdzone.identity import actions as ida
from pdzone.identity import auth
from pdzone.identity.models import Organization

PASSWORD = "Bench-Horse-42"
ZONE = "zone_b"
PROVIDER = "基准数据局"
_n = itertools.count(1)


def _uscc() -> str:
    partial = f"91110105{next(_n):09d}0"
    return partial[:-1] + uscc.calc_check_digit(partial)


def _id_number() -> str:
    partial = f"11010519900307{next(_n) % 1000:03d}0"
    return partial[:-1] + ric.calc_check_digit(partial)


@dataclass
class Spec:
    """A dataset to import: its table, level, privacy unit, contribution bound and column decisions."""

    table: pa.Table
    level: int
    unit: str | None
    columns: dict          # column -> (role, bounds, public values)
    contributions: int | None = None


@dataclass
class City:
    principal: auth.Principal
    token: str
    partner_id: int


def build(rt, tmp: Path, datasets: dict[str, Spec], *, scenario: str = "bench", epsilon: str = "1000",
          default_epsilon: str = "0.1", max_epsilon: str = "5", cap: str | None = None,
          username: str = "analyst") -> City:
    with rt.store.transaction() as s:
        do_create_zone(s, code=ZONE, name="基准专区", type="domain", supervisor=None, actor=os_actor())
        ida.do_create_org(s, name=PROVIDER, kind="provider", uscc=_uscc(), zone_code=ZONE, actor=os_actor())
        partner = ida.do_create_org(s, name="基准合作方", kind="partner", uscc=_uscc(), zone_code=ZONE,
                                    actor=os_actor())
        user = ida.do_create_user(s, rt.vault, username=username, real_name="张三", id_number=_id_number(),
                                  mobile=f"139{next(_n):08d}", org=partner, password=PASSWORD,
                                  actor=os_actor()).user
        ida.do_grant_role(s, rt.vault, user, "partner_analyst", zone_code=ZONE, actor=os_actor())
        ida.do_file(s, user, ZONE, reason="基准测试备案", actor=os_actor())
        partner_id = partner.id
    for name, spec in datasets.items():
        import_table(rt, tmp, name, spec)
    with rt.store.transaction() as s:
        gr.do_add_scenario(s, zone_code=ZONE, code=scenario, name="基准", category="public_interest",
                           actor=os_actor())
        for name in datasets:
            gr.do_set_cap(s, cat.find_dataset(s, name), Decimal(cap or epsilon), actor=os_actor())
        gr.do_add_grant(s, partner=s.get(Organization, partner_id), dataset_names=list(datasets),
                        scenario_code=scenario, epsilon=Decimal(epsilon), default_epsilon=Decimal(default_epsilon),
                        max_epsilon=Decimal(max_epsilon), actor=os_actor())
    with rt.store.transaction() as s:
        res = auth.check_login(s, rt.vault, rt.settings, username=username, password=PASSWORD, otp=None)
    assert res.token, res.error
    return City(auth.resolve_token(rt.store, rt.vault, rt.settings, res.token), res.token, partner_id)


def import_table(rt, tmp: Path, name: str, spec: Spec) -> None:
    """Written as Parquet and imported by `catalog.actions.import_dataset` (what `pdzone dataset import` runs)."""
    path = tmp / f"{name}.parquet"
    pq.write_table(spec.table, path, compression="zstd")
    cat.import_dataset(rt.store, rt.keystore, rt.suite, rt.datasets, path, name=name, zone_code=ZONE,
                       provider=PROVIDER, actor=os_actor(), level=spec.level, basis="基准定级",
                       privacy_unit=spec.unit)
    path.unlink()
    with rt.store.transaction() as s:
        ds = cat.find_dataset(s, name)
        for col, (role, bounds, public) in spec.columns.items():
            cat.do_set_column(s, ds, col, actor=os_actor(), role=role, bounds=bounds, public_values=public,
                              basis="政策")
        if spec.contributions:
            cat.do_set_contributions(s, ds, spec.contributions, actor=os_actor(), basis="政策")
