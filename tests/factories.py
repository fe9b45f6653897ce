"""Builders for test data with valid check digits."""

from __future__ import annotations

import itertools
import random

from stdnum.cn import ric, uscc

from pdzone.audit.events import os_actor
from pdzone.governance.actions import do_create_zone
from pdzone.identity import actions as ida

PASSWORD = "Correct-Horse-42"
_counter = itertools.count(1)


def id_number(rng: random.Random | None = None, region: str = "110105", born: str = "19900307") -> str:
    rng = rng or random.Random(next(_counter))
    partial = region + born + f"{rng.randint(0, 999):03d}" + "0"
    return partial[:-1] + ric.calc_check_digit(partial)


def uscc_code(n: int | None = None) -> str:
    n = next(_counter) if n is None else n
    partial = f"91110105{n:09d}0"
    return partial[:-1] + uscc.calc_check_digit(partial)


def mobile(n: int | None = None) -> str:
    return f"139{(next(_counter) if n is None else n):08d}"


def zone(s, code="zone_a", *, name="测试专区", type="domain"):
    return do_create_zone(s, code=code, name=name, type=type, supervisor=None, actor=os_actor())


def org(s, name=None, kind="operator", zone_code=None):
    n = next(_counter)
    return ida.do_create_org(s, name=name or f"测试机构{n}", kind=kind, uscc=uscc_code(n), zone_code=zone_code,
                             actor=os_actor())


def user(s, vault, o, username=None, *, role=None, zone_code=None, password=PASSWORD, idn=None):
    n = next(_counter)
    new = ida.do_create_user(s, vault, username=username or f"user{n}", real_name="张三", id_number=idn or id_number(),
                             mobile=mobile(n), org=o, password=password, actor=os_actor())
    secret = None
    if role:
        secret = ida.do_grant_role(s, vault, new.user, role, zone_code=zone_code, actor=os_actor())
    return new.user, secret
