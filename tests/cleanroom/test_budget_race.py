"""Budget safety under concurrency: 16 distinct queries at once against a budget for 5.

Each query is different (no stored answer can serve it), each would spend ε = 1, the grant and the
dataset cap hold 5. Whatever the interleaving, exactly 5 are answered, the other 11 are refused with
`budget_exhausted`, and the ledger says 5 — on the grant, on the partner's dataset account, and in
the operation log (one release event per answer). The queries also arrive before the stored
contribution-bounded copy exists, so they race to build it too.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from pdzone.audit.models import AuditEvent
from pdzone.catalog import actions as cat
from pdzone.cleanroom import service
from pdzone.egress import grants as gr
from pdzone.egress.models import DatasetBudget, StoredAnswer
from pdzone.errors import Conflict
from tests.cleanroom.conftest import build_city, people_table
from tests.conftest import make_runtime

THREADS = 16


def test_concurrent_distinct_queries_never_overspend(tmp_path, db_url):
    rt = make_runtime(tmp_path, db_url)
    try:
        city = build_city(rt, tmp_path, table=people_table(n_people=200), epsilon="5", default_epsilon="1")
        env = city.env()
        start = threading.Barrier(THREADS)

        def one(i: int) -> str:
            sql = f'SELECT 区, COUNT(*) AS n, AVG(金额) AS m FROM pay3 WHERE 年龄 >= {20 + i} GROUP BY 区'
            start.wait(timeout=60)
            try:
                out = service.run(env, city.analyst, city.analyst.actor(), sql=sql, scenario="research")
            except Conflict as e:
                assert e.code == "budget_exhausted", e.code
                return "refused"
            assert out["receipt"]["from_store"] is False and out["receipt"]["epsilon_spent"] == "1"
            assert len(out["rows"]) == 4
            return "answered"

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            outcomes = list(pool.map(one, range(THREADS)))

        assert outcomes.count("answered") == 5
        assert outcomes.count("refused") == THREADS - 5
        with rt.store.sessions() as s:
            grant = gr.active_grant(s, org_id=city.partner_id, scenario_code="research")
            assert grant.epsilon_spent == grant.epsilon_total == 5_000_000_000    # exact, in nano-ε
            ds = cat.find_dataset(s, "pay3")
            acct = s.get(DatasetBudget, (city.partner_id, ds.id))
            assert acct.spent == 5_000_000_000 <= acct.cap
            assert s.query(StoredAnswer).filter(StoredAnswer.grant_id == grant.id).count() == 5
            releases = s.scalars(select(AuditEvent).where(AuditEvent.action == "egress.query.release",
                                                          AuditEvent.target_id == str(grant.id))).all()
            assert len(releases) == 5
            assert gr.budget_view(s, grant)["epsilon_left"] == "0"
        # and afterwards the budget stays shut
        with pytest.raises(Conflict) as refused:
            service.run(env, city.analyst, city.analyst.actor(), scenario="research",
                        sql='SELECT 区, COUNT(*) AS n FROM pay3 GROUP BY 区')
        assert refused.value.code == "budget_exhausted"
    finally:
        rt.store.dispose()
