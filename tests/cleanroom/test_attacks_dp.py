"""The published attacks that apply to a DP clean room, run against the service.

- A Dinur–Nissim style reconstruction: many random subset-sum queries over a secret bit per person, then
  least squares. On level-3 data it must stay at chance until the budget refuses; on level-1 (exact)
  data the same attack recovers every bit, which shows the test has teeth.
- Noise that comes only from OpenDP: with Python's, NumPy's and `secrets`' samplers disabled a DP query
  still answers, OpenDP's measurements are what ran, and with those measurements made noiseless the
  release is the exact aggregate, so nothing else adds (or fails to add) noise.
"""

from __future__ import annotations

import random
import secrets
from decimal import Decimal

import numpy as np
import opendp.mod
import pyarrow as pa
import pytest
from argon2 import PasswordHasher, Type

from pdzone.audit.events import os_actor
from pdzone.catalog import actions as cat
from pdzone.egress import dp
from pdzone.egress import grants as gr
from pdzone.errors import PdzoneError
from pdzone.identity import actions as ida
from pdzone.identity import passwords
from pdzone.identity.models import Organization
from tests import factories as f
from tests.cleanroom.conftest import DISTRICTS, City, ask, import_table, login
from tests.conftest import make_runtime

N = 120                                   # people, one secret bit each
SECRET = [1] * (N // 2) + [0] * (N // 2)
random.Random(2026).shuffle(SECRET)       # exactly half are ones: guessing "all zeros" scores 0.5
BUDGET = Decimal("0.5")                   # the dataset cap and the grant: e^0.5/(1+e^0.5) ≈ 0.62 < 0.7
PER_QUERY = Decimal("0.025")              # the attacker spreads it over 20 queries


@pytest.fixture(autouse=True, scope="module")
def _cheap_password_hashing():
    mp = pytest.MonkeyPatch()
    mp.setattr(passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID))
    yield
    mp.undo()


def census_table() -> pa.Table:
    """One row per person: 组 names each person (a dimension, so WHERE 组 IN (...) picks any subset)."""
    return pa.table({"人员编号": [f"C{p:04d}" for p in range(N)], "组": [f"G{p:03d}" for p in range(N)],
                     "区": [DISTRICTS[p % 4] for p in range(N)], "半": ["甲" if p % 2 else "乙" for p in range(N)],
                     "秘密": [float(b) for b in SECRET]})


@pytest.fixture(scope="module")
def census(tmp_path_factory) -> City:
    """A zone with dn3 (level 3), dn1 (level 1) and noise3 (level 3) of the census table. The minimum group
    size is 1 here, so that DP noise and the budget, not the threshold, are what stop the attack."""
    tmp = tmp_path_factory.mktemp("census")
    rt = make_runtime(tmp, f"sqlite:///{tmp}/pdzone.db", cleanroom_min_group_level3=1)
    with rt.store.transaction() as s:
        f.zone(s, "zone_a")
        f.org(s, "普查数据局", kind="provider", zone_code="zone_a")
        partner = f.org(s, "研究合作方", kind="partner", zone_code="zone_a")
        user, _ = f.user(s, rt.vault, partner, "attacker", role="partner_analyst", zone_code="zone_a")
        ida.do_file(s, user, "zone_a", reason="测试备案", actor=os_actor())
        partner_id = partner.id
    cols = {"人员编号": ("join_key", None, None), "组": ("dimension", None, None),
            "区": ("dimension", None, DISTRICTS), "半": ("dimension", None, None),
            "秘密": ("measure", (0.0, 1.0), None)}
    for name, level in (("dn3", 3), ("dn1", 1), ("noise3", 3)):
        import_table(rt, tmp, census_table(), name=name, zone="zone_a", provider="普查数据局", level=level,
                     unit="人员编号", columns=cols, contributions=1)
    with rt.store.transaction() as s:
        org = s.get(Organization, partner_id)
        gr.do_set_cap(s, cat.find_dataset(s, "dn3"), BUDGET, actor=os_actor())
        for code, names, eps in (("census", ["dn3", "dn1"], BUDGET), ("noise", ["noise3"], Decimal(10))):
            gr.do_add_scenario(s, zone_code="zone_a", code=code, name=code, category="public_interest",
                               actor=os_actor())
            gr.do_add_grant(s, partner=org, dataset_names=names, scenario_code=code, epsilon=eps,
                            default_epsilon=min(eps, Decimal(1)), max_epsilon=min(eps, Decimal(5)),
                            actor=os_actor())
    analyst, _ = login(rt, "attacker")
    yield City(rt, "zone_a", partner_id, analyst, analyst, "普查数据局")
    rt.store.dispose()


def subset_sum(c: City, table: str, members: list[int], epsilon=None):
    names = ", ".join(f"'G{p:03d}'" for p in members)
    r = ask(c, f'SELECT SUM("秘密") AS s FROM {table} WHERE "组" IN ({names})', "census", epsilon)
    return r["rows"][0][0] if r["rows"] else None


def reconstruct(A: list[list[int]], y: list[float]) -> float:
    """Least squares, then the top half guessed as ones (the attacker knows half are); accuracy."""
    x = np.linalg.lstsq(np.array(A, dtype=float), np.array(y, dtype=float), rcond=None)[0]
    guess = np.zeros(N, dtype=int)
    guess[np.argsort(-x, kind="stable")[: N // 2]] = 1
    return float(np.mean(guess == np.array(SECRET)))


def test_reconstruction_stays_at_chance_until_the_budget_refuses(census):
    """Why 0.7: ε-DP bounds any attacker's expected accuracy on a person's bit at e^ε/(1+e^ε); with the
    whole budget ε = 0.5 spent that is ≈ 0.62. This attack is near 0.5: Laplace scale 80 on sums of ~60
    bits; simulated offline with these parameters over 3000 runs, its accuracy had mean 0.50, sd 0.04 and
    maximum 0.65; a pure guess scores ≥ 0.7 only if 42 of its 60 "ones" are right (a hypergeometric tail,
    z ≈ 4.2, under 2e-5). The attacker's subsets are seeded; OpenDP's noise cannot be (nor should it)."""
    rng = random.Random(4)
    A, y, charged = [], [], 0
    while True:
        members = [p for p in range(N) if rng.random() < 0.5]
        try:
            s = subset_sum(census, "dn3", members, epsilon=str(PER_QUERY))
        except PdzoneError as e:
            assert (e.status, e.code) == (409, "budget_exhausted")
            break
        charged += 1
        if s is not None:                  # None: the noisy count fell under the minimum group size
            A.append([int(p in members) for p in range(N)])
            y.append(s)
    assert charged == BUDGET / PER_QUERY == 20   # the budget stopped it at 20 queries, far short of N
    accuracy = reconstruct(A, y)
    assert accuracy <= 0.7, accuracy


def test_the_same_attack_recovers_every_bit_from_exact_answers(census):
    rng = random.Random(4)
    A, y = [], []
    for _ in range(N + 10):                # level 1 charges nothing: nothing stops the attacker
        members = [p for p in range(N) if rng.random() < 0.5]
        A.append([int(p in members) for p in range(N)])
        y.append(subset_sum(census, "dn1", members))
    assert reconstruct(A, y) == 1.0


class _Spy:
    """An OpenDP measurement, counted when it runs; `exact` makes it noiseless (for the control)."""

    def __init__(self, kind: str, measurement, calls: list, exact: bool) -> None:
        assert isinstance(measurement, opendp.mod.Measurement)
        self.kind, self.m, self.calls, self.exact, self.threshold = kind, measurement, calls, exact, None

    def __call__(self, arg):
        self.calls.append(self.kind)
        if not self.exact:
            return self.m(arg)
        if self.kind == "threshold":
            return {k: v for k, v in arg.items() if v >= self.threshold}
        if self.kind == "noisy_min":
            return int(np.argmin(arg))
        return list(arg)

    def __getattr__(self, name):
        return getattr(self.m, name)


def _spy_on_opendp(monkeypatch, *, exact: bool) -> list[str]:
    calls: list[str] = []
    for name, kind in (("_laplace_int", "laplace_int"), ("_laplace_float", "laplace_float"),
                       ("_threshold", "threshold"), ("_noisy_min", "noisy_min")):
        real = getattr(dp, name)

        def make(*args, _real=real, _kind=kind):
            spy = _Spy(_kind, _real(*args), calls, exact)
            spy.threshold = args[1] if _kind == "threshold" else None
            return spy
        monkeypatch.setattr(dp, name, make)
    return calls


def _disable_other_samplers(monkeypatch) -> None:
    def forbidden(*_a, **_k):
        raise AssertionError("noise must come from OpenDP, not from this sampler")
    for name in ("random", "uniform", "gauss", "normalvariate", "expovariate", "laplace", "randint", "randrange",
                 "choice", "choices", "sample", "shuffle", "getrandbits", "betavariate", "triangular"):
        if hasattr(random, name):
            monkeypatch.setattr(random, name, forbidden)
    for cls in (random.Random, random.SystemRandom):
        monkeypatch.setattr(cls, "random", forbidden)
        monkeypatch.setattr(cls, "getrandbits", forbidden)
    for name in ("randbits", "randbelow", "choice"):     # its samplers (token_* name things: DuckDB's relations)
        monkeypatch.setattr(secrets, name, forbidden)
    for name in ("laplace", "normal", "random", "rand", "randn", "randint", "choice", "uniform", "exponential",
                 "default_rng", "RandomState", "Generator", "seed"):
        monkeypatch.setattr(np.random, name, forbidden)


GRID_SQL = 'SELECT "区", COUNT(*) AS n, SUM("秘密") AS s, AVG("秘密") AS a FROM noise3 GROUP BY "区"'
SELECTION_SQL = 'SELECT "半", COUNT(*) AS n, MEDIAN("秘密") AS m FROM noise3 GROUP BY "半"'


def test_noise_comes_only_from_opendp(census, monkeypatch):
    # The contribution-bounded copy (which L rows of a person count) is drawn once per data version, before
    # any query's noise; build it first, so that what runs under the disabled samplers is the query alone.
    ask(census, 'SELECT COUNT(*) AS n FROM noise3', "noise", epsilon="0.1")
    with monkeypatch.context() as m:
        _disable_other_samplers(m)
        calls = _spy_on_opendp(m, exact=False)
        grid = ask(census, GRID_SQL, "noise", epsilon="1")
        chosen = ask(census, SELECTION_SQL, "noise", epsilon="2")
    assert sorted(r[0] for r in grid["rows"]) == sorted(DISTRICTS) and chosen["rows"]
    assert {"laplace_int", "laplace_float", "threshold", "noisy_min"} <= set(calls)   # OpenDP ran

    # Control: the same measurements made noiseless give back the exact aggregates, to the last digit, so
    # no other step adds noise (or leaves a value out of the measured path).
    with monkeypatch.context() as m:
        _spy_on_opendp(m, exact=True)
        exact = ask(census, GRID_SQL, "noise", epsilon="0.5")
    truth = {d: [p for p in range(N) if DISTRICTS[p % 4] == d] for d in DISTRICTS}
    for d, n, s, a in exact["rows"]:
        ones = sum(SECRET[p] for p in truth[d])
        assert (n, s) == (len(truth[d]), float(ones)) and a == pytest.approx(ones / len(truth[d]), abs=1e-12)
