"""Scenarios (应用场景), grants and privacy budgets: what the gate checks before a query answer leaves.

A grant gives one partner organization some datasets for one scenario, with the release forms it
may receive and a privacy budget. Privacy loss adds up per person, not per paper: each answer
charges its grant, and also the partner's account on every dataset it read, which is capped per
dataset across all grants and scenarios — so more grants never mean more budget.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pdzone.audit.events import Action, Actor, record
from pdzone.catalog.actions import find_dataset
from pdzone.catalog.models import Dataset
from pdzone.db import utcnow
from pdzone.egress.models import DatasetBudget, DatasetCap, Grant, GrantDataset, Scenario
from pdzone.errors import Conflict, Forbidden, Invalid, NotFound
from pdzone.governance.actions import find_zone
from pdzone.identity.actions import OrgKind
from pdzone.identity.models import Organization

NANO = Decimal("1e-9")
FEMTO = Decimal("1e-15")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# defaults by level (configuration, not code: see docs/clean-room.md)
DEFAULT_DATASET_CAP = {1: Decimal(100), 2: Decimal(100), 3: Decimal(10), 4: Decimal(3)}
DEFAULT_DATASET_DELTA_CAP = 1e-5   # δ is capped per partner and dataset across grants, like ε
DEFAULT_MAX_EPSILON = Decimal(5)
DEFAULT_MIN_EPSILON = Decimal("0.001")


class Category(StrEnum):
    PUBLIC_INTEREST = "public_interest"
    INDUSTRY = "industry"


class ReleaseForm(StrEnum):
    AGGREGATE = "aggregate"   # statistics (thresholds / DP by level)
    ROWS = "rows"             # de-identified rows (level 1 only)


def to_nano(v: Decimal) -> int:
    return int((v / NANO).to_integral_value(rounding=ROUND_CEILING))


def from_nano(n: int) -> Decimal:
    d = (Decimal(n) * NANO).normalize()
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d


def to_femto(v: float) -> int:
    return math.ceil(Decimal(repr(v)) / FEMTO)


_PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?", re.ASCII)
_PLAIN_FLOAT = re.compile(r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", re.ASCII)


def _plain_text(value, pattern: re.Pattern) -> str | None:
    """`value` as ASCII decimal text, or None. Strings must be plain notation (no other digits,
    underscores, signs or words: Python would read "١" as 1 and "1_0" as 10); numbers (JSON, CLI)
    and Decimals are read as they are."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return text if pattern.fullmatch(text) else None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, int | Decimal):
        return str(value)
    return None


def parse_epsilon(value, *, field: str = "epsilon") -> Decimal:
    """A finite, positive ε as an exact decimal (refuses NaN, infinities, booleans, junk, and any
    string that is not plain ASCII decimal notation such as "0.5")."""
    text = _plain_text(value, _PLAIN_DECIMAL)
    try:
        d = Decimal(text) if text is not None else None
    except (InvalidOperation, ValueError):
        d = None
    if d is None:
        raise Invalid(f"{field} 须为数字（如 0.5）", f"{field} must be a plain decimal number (e.g. 0.5)",
                      code="invalid_epsilon")
    if not d.is_finite() or d <= 0 or d > Decimal(1000):
        raise Invalid(f"{field} 须为 (0, 1000] 内的有限数", f"{field} must be finite, in (0, 1000]",
                      code="invalid_epsilon")
    if d != d.quantize(NANO) and d.as_tuple().exponent < -9:
        raise Invalid(f"{field} 最多 9 位小数", f"{field} has at most 9 decimal places", code="invalid_epsilon")
    return d


def check_code(code: str) -> str:
    if not _CODE.match(code or ""):
        raise Invalid("场景代码须为小写字母开头的小写字母、数字或下划线", "a scenario code is [a-z][a-z0-9_]*",
                      code="invalid_scenario_code")
    return code


def find_scenario(session: Session, code: str) -> Scenario:
    sc = session.scalar(select(Scenario).where(Scenario.code == code))
    if sc is None:
        raise NotFound(f"找不到应用场景：{code}", f"no scenario {code}", code="scenario_not_found")
    return sc


def do_add_scenario(session: Session, *, zone_code: str, code: str, name: str, category: str, description: str = "",
                    actor: Actor) -> Scenario:
    check_code(code)
    find_zone(session, zone_code)
    if category not in {c.value for c in Category}:
        raise Invalid("场景类别须为 public_interest 或 industry", "category is public_interest or industry",
                      code="invalid_category")
    if not (name or "").strip():
        raise Invalid("请填写场景名称", "a scenario needs a name", code="name_required")
    if session.scalar(select(Scenario.id).where(Scenario.code == code)) is not None:
        raise Conflict(f"场景代码已被使用：{code}", f"scenario code {code} is taken", code="scenario_exists")
    sc = Scenario(code=code, zone_code=zone_code, name=name.strip()[:200], description=description,
                  category=category, created_by=actor.name, created_at=utcnow())
    session.add(sc)
    session.flush()
    record(session, actor=actor, action=Action.SCENARIO_ADD, target_type="scenario", target_id=code, zone=zone_code,
           details={"name": sc.name, "category": category})
    return sc


def do_add_grant(session: Session, *, partner: Organization, dataset_names: list[str], scenario_code: str,
                 epsilon: Decimal, default_epsilon: Decimal | None = None, delta: float = 1e-5,
                 forms: list[str] | None = None, expires_at: dt.datetime | None = None,
                 min_epsilon: Decimal | None = None, max_epsilon: Decimal | None = None, actor: Actor) -> Grant:
    sc = find_scenario(session, scenario_code)
    if partner.kind != OrgKind.PARTNER:
        raise Invalid("授权对象须为合作方单位", "a grant goes to a partner organization", code="invalid_partner")
    if not dataset_names:
        raise Invalid("至少授权一个数据集", "grant at least one dataset", code="datasets_required")
    forms = sorted(set(forms or [ReleaseForm.AGGREGATE.value]))
    for f in forms:
        if f not in {x.value for x in ReleaseForm}:
            raise Invalid(f"未知的发布形式：{f}", f"unknown release form {f}", code="invalid_form")
    epsilon = parse_epsilon(epsilon)
    default_epsilon = parse_epsilon(default_epsilon if default_epsilon is not None else Decimal("0.1"),
                                    field="default_epsilon")
    min_e = parse_epsilon(min_epsilon if min_epsilon is not None else DEFAULT_MIN_EPSILON, field="min_epsilon")
    max_e = parse_epsilon(max_epsilon if max_epsilon is not None else min(DEFAULT_MAX_EPSILON, epsilon),
                          field="max_epsilon")
    if not min_e <= default_epsilon <= max_e:
        raise Invalid("默认 ε 须在最小值与最大值之间",
                      "the default ε must lie within [min, max]", code="invalid_epsilon")
    delta = parse_delta(delta)
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("到期时间须在未来", "the expiry must be in the future", code="invalid_expiry")
    datasets: list[Dataset] = []
    for n in dict.fromkeys(dataset_names):
        ds = find_dataset(session, n)
        if ds.zone_code != sc.zone_code:
            raise Invalid(f"数据集 {n} 不在场景所属专区", f"dataset {n} is not in the scenario's zone",
                          code="dataset_other_zone")
        if ds.r28_reason:
            raise Forbidden(f"数据集 {n} 依第二十八条不得开放运营", f"dataset {n} may not be operated (R-28)",
                            code="r28_prohibited")
        if (ds.level or 4) >= 2 and not ds.privacy_unit:
            # thresholds and DP count people: without a privacy-unit column neither can be applied
            level_zh = f"第 {ds.level} 级" if ds.level else "级别未确认（按第 4 级对待）"
            level_en = f"level {ds.level}" if ds.level else "of an unconfirmed level (treated as 4)"
            raise Invalid(f"数据集 {n} 为{level_zh}，须先声明隐私单元列才能授权",
                          f"dataset {n} is {level_en}: declare its privacy-unit column "
                          "before granting it", code="privacy_unit_required", details={"dataset": n})
        if ReleaseForm.ROWS.value in forms and (ds.level or 4) > 1:
            raise Invalid(f"只有第 1 级数据可授权逐行结果（{n} 为第 {ds.level or '未定'} 级）",
                          f"only level-1 data may be granted as rows ({n} is level {ds.level or 'undecided'})",
                          code="rows_level")
        datasets.append(ds)
    g = Grant(zone_code=sc.zone_code, partner_org_id=partner.id, scenario_id=sc.id, forms=json.dumps(forms),
              epsilon_total=to_nano(epsilon), epsilon_spent=0, delta_total=to_femto(delta), delta_spent=0,
              default_epsilon=to_nano(default_epsilon), min_epsilon=to_nano(min_e), max_epsilon=to_nano(max_e),
              expires_at=expires_at, created_by=actor.name, created_at=utcnow())
    session.add(g)
    session.flush()
    for ds in datasets:
        session.add(GrantDataset(grant_id=g.id, dataset_id=ds.id))
    record(session, actor=actor, action=Action.GRANT_ADD, target_type="grant", target_id=str(g.id), zone=sc.zone_code,
           details={"partner": partner.uscc, "scenario": sc.code, "datasets": [d.name for d in datasets],
                    "epsilon": str(epsilon), "default_epsilon": str(default_epsilon), "delta": delta, "forms": forms,
                    "expires_at": expires_at.isoformat() if expires_at else None})
    return g


def do_revoke_grant(session: Session, grant: Grant, *, actor: Actor) -> None:
    grant.revoked = True
    record(session, actor=actor, action=Action.GRANT_REVOKE, target_type="grant", target_id=str(grant.id),
           zone=grant.zone_code)


def parse_delta(value, *, field: str = "delta") -> float:
    """δ in [0, 0.01); strings in plain ASCII notation only ("0.00001" or "1e-5")."""
    text = _plain_text(value, _PLAIN_FLOAT)
    if text is None:
        raise Invalid(f"{field} 须为数字", f"{field} must be a plain number", code="invalid_delta")
    d = float(text)
    if not math.isfinite(d) or not 0 <= d < 1e-2:
        raise Invalid(f"{field} 须在 [0, 0.01) 内", f"{field} must be in [0, 0.01)", code="invalid_delta")
    return d


def do_set_cap(session: Session, ds: Dataset, cap: Decimal, *, delta: float | None = None, actor: Actor) -> None:
    """The security admin's cap on any one partner's total ε (and δ, when given) on this dataset."""
    cap = parse_epsilon(cap, field="cap")
    n = to_nano(cap)
    row = session.get(DatasetCap, ds.id)
    if row is None:
        row = DatasetCap(dataset_id=ds.id, cap=n, set_by=actor.name, set_at=utcnow())
        session.add(row)
    else:
        row.cap, row.set_by, row.set_at = n, actor.name, utcnow()
    if delta is not None:
        row.delta_cap = to_femto(parse_delta(delta, field="delta_cap"))
    session.flush()
    d_cap = dataset_delta_cap(session, ds)
    for acct in session.scalars(select(DatasetBudget).where(DatasetBudget.dataset_id == ds.id)):
        acct.cap = max(n, acct.spent)  # lowering a cap below what was spent leaves nothing to spend
        acct.delta_cap = max(d_cap, acct.delta_spent)
    record(session, actor=actor, action=Action.DATASET_CAP, target_type="dataset", target_id=ds.name,
           zone=ds.zone_code, details={"cap": str(cap), "delta_cap": float(Decimal(d_cap) * FEMTO)})


def dataset_cap(session: Session, ds: Dataset) -> int:
    row = session.get(DatasetCap, ds.id)
    return row.cap if row is not None else to_nano(DEFAULT_DATASET_CAP[ds.level or 4])


def dataset_delta_cap(session: Session, ds: Dataset) -> int:
    """Femto-δ any one partner may spend on the dataset across all its grants."""
    row = session.get(DatasetCap, ds.id)
    if row is not None and row.delta_cap is not None:
        return row.delta_cap
    return to_femto(DEFAULT_DATASET_DELTA_CAP)


def grant_datasets(session: Session, grant: Grant) -> list[Dataset]:
    return list(session.scalars(select(Dataset).join(GrantDataset, GrantDataset.dataset_id == Dataset.id)
                                .where(GrantDataset.grant_id == grant.id).order_by(Dataset.name)))


def active_grant(session: Session, *, org_id: int, scenario_code: str, zone: str | None = None) -> Grant:
    """The partner's live grant for a scenario (no grant, no answer)."""
    sc = session.scalar(select(Scenario).where(Scenario.code == scenario_code))
    if sc is None:
        raise Forbidden(f"您没有应用场景 {scenario_code} 的授权", f"you have no grant for scenario {scenario_code}",
                        code="no_grant", details={"scenario": scenario_code})
    grants = session.scalars(select(Grant).where(Grant.partner_org_id == org_id, Grant.scenario_id == sc.id,
                                                 Grant.revoked.is_(False)).order_by(Grant.id.desc())).all()
    now = utcnow()
    live = [g for g in grants if g.expires_at is None or g.expires_at > now]
    if not live:
        code = "grant_expired" if grants else "no_grant"
        raise Forbidden(f"您没有应用场景 {scenario_code} 的有效授权" + ("（已到期）" if grants else ""),
                        f"you have no {'live ' if grants else ''}grant for scenario {scenario_code}"
                        + (" (expired)" if grants else ""), code=code, details={"scenario": scenario_code})
    return live[0]


def forms_of(grant: Grant) -> list[str]:
    return json.loads(grant.forms)


def choose_epsilon(grant: Grant, requested) -> Decimal:
    """The ε a query may spend in total: the grant's default, or the request's within [min, max]."""
    if requested is None:
        return from_nano(grant.default_epsilon)
    e = parse_epsilon(requested)
    if not grant.min_epsilon <= to_nano(e) <= grant.max_epsilon:
        raise Forbidden(f"ε 须在授权范围 [{from_nano(grant.min_epsilon)}, {from_nano(grant.max_epsilon)}] 内",
                        f"ε must lie within the grant's range [{from_nano(grant.min_epsilon)}, "
                        f"{from_nano(grant.max_epsilon)}]", code="epsilon_out_of_range")
    return e


def check_affordable(session: Session, grant: Grant, datasets: list[Dataset], eps: int, delta: int) -> None:
    """Refuse before any work when the grant or a dataset account could not pay."""
    if grant.epsilon_spent + eps > grant.epsilon_total or grant.delta_spent + delta > grant.delta_total:
        raise _exhausted("grant", from_nano(grant.epsilon_total - grant.epsilon_spent))
    for ds in datasets:
        acct = session.get(DatasetBudget, (grant.partner_org_id, ds.id))
        cap = acct.cap if acct is not None else dataset_cap(session, ds)
        spent = acct.spent if acct is not None else 0
        d_cap = acct.delta_cap if acct is not None else dataset_delta_cap(session, ds)
        d_spent = acct.delta_spent if acct is not None else 0
        if spent + eps > cap or d_spent + delta > d_cap:
            raise _exhausted(ds.name, from_nano(cap - spent))


def _exhausted(what: str, left: Decimal) -> Conflict:
    zh = "授权的隐私预算已用尽" if what == "grant" else f"您在数据集 {what} 上的隐私预算已用尽"
    en = "the grant's privacy budget is exhausted" if what == "grant" else \
        f"your privacy budget on dataset {what} is exhausted"
    return Conflict(zh, en, code="budget_exhausted", details={"budget": what, "epsilon_left": str(left)})


def _open_account(session: Session, key: tuple[int, int], cap: int, delta_cap: int) -> None:
    """Create the partner's account on a dataset unless a concurrent first charge just did (two grants of
    one partner charge the same account without sharing a grant row lock)."""
    dialect = session.get_bind().dialect.name
    values = {"partner_org_id": key[0], "dataset_id": key[1], "cap": cap, "spent": 0, "delta_cap": delta_cap,
              "delta_spent": 0}
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - pdzone runs on SQLite and PostgreSQL
        session.add(DatasetBudget(**values))
        session.flush()
        return
    session.execute(insert(DatasetBudget).values(**values).on_conflict_do_nothing())


def charge(session: Session, grant: Grant, datasets: list[Dataset], eps: int, delta: int) -> None:
    """Spend ε and δ on the grant and on the partner's account of every dataset read (both capped there).

    Conditional updates in the caller's transaction: two workers racing for the last ε cannot both
    pass (the database's CHECK constraints hold the line even if they did).
    """
    res = session.execute(update(Grant).where(Grant.id == grant.id, Grant.epsilon_spent + eps <= Grant.epsilon_total,
                                              Grant.delta_spent + delta <= Grant.delta_total)
                          .values(epsilon_spent=Grant.epsilon_spent + eps, delta_spent=Grant.delta_spent + delta)
                          .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        raise _exhausted("grant", Decimal(0))
    for ds in datasets:
        key = (grant.partner_org_id, ds.id)
        if session.get(DatasetBudget, key) is None:
            _open_account(session, key, dataset_cap(session, ds), dataset_delta_cap(session, ds))
        B = DatasetBudget
        res = session.execute(update(B).where(B.partner_org_id == key[0], B.dataset_id == key[1],
                                              B.spent + eps <= B.cap, B.delta_spent + delta <= B.delta_cap)
                              .values(spent=B.spent + eps, delta_spent=B.delta_spent + delta)
                              .execution_options(synchronize_session=False))
        if res.rowcount != 1:
            raise _exhausted(ds.name, Decimal(0))
    session.expire(grant)


def budget_view(session: Session, grant: Grant) -> dict:
    sc = session.get(Scenario, grant.scenario_id)
    datasets = grant_datasets(session, grant)
    accts = []
    for ds in datasets:
        acct = session.get(DatasetBudget, (grant.partner_org_id, ds.id))
        cap = acct.cap if acct is not None else dataset_cap(session, ds)
        spent = acct.spent if acct is not None else 0
        d_cap = acct.delta_cap if acct is not None else dataset_delta_cap(session, ds)
        d_spent = acct.delta_spent if acct is not None else 0
        accts.append({"dataset": ds.name, "cap": str(from_nano(cap)), "spent": str(from_nano(spent)),
                      "left": str(from_nano(cap - spent)), "delta_cap": float(Decimal(d_cap) * FEMTO),
                      "delta_spent": float(Decimal(d_spent) * FEMTO)})
    return {"grant_id": grant.id, "scenario": sc.code if sc else None, "zone": grant.zone_code,
            "forms": forms_of(grant), "datasets": [d.name for d in datasets],
            "epsilon_total": str(from_nano(grant.epsilon_total)), "epsilon_spent": str(from_nano(grant.epsilon_spent)),
            "epsilon_left": str(from_nano(grant.epsilon_total - grant.epsilon_spent)),
            "delta_total": float(Decimal(grant.delta_total) * FEMTO),
            "delta_spent": float(Decimal(grant.delta_spent) * FEMTO),
            "default_epsilon": str(from_nano(grant.default_epsilon)),
            "min_epsilon": str(from_nano(grant.min_epsilon)), "max_epsilon": str(from_nano(grant.max_epsilon)),
            "expires_at": grant.expires_at.isoformat() if grant.expires_at else None, "revoked": grant.revoked,
            "dataset_budgets": accts}


def grants_of(session: Session, org_id: int | None = None, zone: str | None = None) -> list[Grant]:
    q = select(Grant).order_by(Grant.id)
    if org_id is not None:
        q = q.where(Grant.partner_org_id == org_id)
    if zone is not None:
        q = q.where(Grant.zone_code == zone)
    return list(session.scalars(q))


def find_grant(session: Session, grant_id: int) -> Grant:
    g = session.get(Grant, grant_id)
    if g is None:
        raise NotFound(f"找不到授权 {grant_id}", f"no grant {grant_id}", code="grant_not_found")
    return g
