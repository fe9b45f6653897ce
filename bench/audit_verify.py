"""`pdzone audit verify` over a large log, and inclusion proofs in it.

Targets (issue): verify 1,000,000 events in <= 15 s; an inclusion proof in a 1M-event log in
<= 5 ms. The in-run baseline is the floor any verifier pays: stream the rows without ORM
objects, hash each row and fold the hashes into a tree (no canonical encoding, no checks).

    python bench/audit_verify.py            # 1,000,000 events on SQLite and PostgreSQL
    PDZONE_BENCH_EVENTS=100000 python bench/audit_verify.py
"""

from __future__ import annotations

import os
import random
import time

from _common import kinds, median, runtime, timed
from sqlalchemy import select

from pdzone.audit import log as alog
from pdzone.audit import merkle
from pdzone.audit.events import Action, Actor, record
from pdzone.audit.log import EVENT_COLUMNS
from pdzone.audit.verify import verify_store

N = int(os.environ.get("PDZONE_BENCH_EVENTS", "1000000"))
ACTOR = Actor(name="user:bench", user_id=7, org_id=3, source_ip="10.0.0.8", request_id="r")


def fill(rt, n):
    step = 10000
    for start in range(0, n, step):
        with rt.store.transaction() as s:
            for i in range(start, min(n, start + step)):
                record(s, actor=ACTOR, action=Action.LOGIN, target_type="user", target_id=i,
                       zone="bj_transport" if i % 3 else None, details={"i": i, "ok": True})
    alog.integrate(rt.store, rt.log_suite, batch=20000)
    rt.maintain_log(force_checkpoint=True)


def baseline(rt):
    h = alog.hasher(rt.log_suite)
    cr = merkle.CompactRange(h)
    with rt.store.engine.connect() as c:
        res = c.execution_options(stream_results=True, yield_per=20000).execute(
            select(*EVENT_COLUMNS).order_by(EVENT_COLUMNS[1]))
        for row in res:
            cr.append(merkle.leaf_hash(h, repr(tuple(row)).encode()))
    return cr.root()


def main():
    print(f"events: {N:,}")
    print(f"{'db':<11}{'fill s':>8}{'verify s':>10}{'baseline s':>12}{'ratio':>7}{'proof ms p50':>14}{'p99':>7}")
    for kind in kinds():
        with runtime(kind) as rt:
            t = time.perf_counter()
            fill(rt, N)
            fill_s = time.perf_counter() - t
            res = []
            t = time.perf_counter()
            r = verify_store(rt.store)
            res.append(time.perf_counter() - t)
            assert r.exit_code == 0 and r.tree_size == N, r.as_dict()
            base = timed(lambda rt=rt: baseline(rt), repeat=1)
            rng = random.Random(1)
            lat = []
            with rt.store.sessions() as s:
                suite = rt.log_suite
                for _ in range(500):
                    seq = rng.randrange(N)
                    t0 = time.perf_counter()
                    alog.inclusion_proof(s, suite, seq, N)
                    lat.append((time.perf_counter() - t0) * 1000)
            lat.sort()
            print(f"{kind:<11}{fill_s:>8.1f}{res[0]:>10.2f}{median(base):>12.2f}{res[0] / median(base):>7.2f}"
                  f"{median(lat):>14.2f}{lat[int(len(lat) * 0.99)]:>7.2f}")
    print("targets: verify <= 15 s for 1M events; inclusion proof <= 5 ms")


if __name__ == "__main__":
    main()
