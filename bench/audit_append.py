"""Audit append through the action layer (audit.events.record), batched and single-event.

Targets (issue): >= 10,000 events/s batched (1,000 per transaction), >= 500 single-event
transactions/s, on SQLite and PostgreSQL. Also measures integration (positions + tree nodes)
and, as the in-run baseline, a bare INSERT of the same rows with no audit logic. Each event
through `record` gets its id up front and an HMAC (the event MAC, docs/audit-log.md#event-mac);
integration checks every MAC before giving positions.

    python bench/audit_append.py
"""

from __future__ import annotations

import time

from _common import kinds, median, runtime
from sqlalchemy import insert

from pdzone.audit import log as alog
from pdzone.audit.events import Action, Actor, record
from pdzone.audit.models import AuditEvent
from pdzone.db import utcnow

ACTOR = Actor(name="user:bench", user_id=1, org_id=1, source_ip="127.0.0.1", request_id="bench")
BATCH, BATCHES, SINGLES = 1000, 10, 1000


def batched(rt):
    with rt.store.transaction() as s:
        for i in range(BATCH):
            record(s, actor=ACTOR, action=Action.LOGIN, target_type="user", target_id=i, zone="bj_transport",
                   details={"i": i, "reason": "bench"})


def bare(rt):
    rows = [dict(occurred_at=utcnow(), actor="user:bench", action="identity.session.login", outcome="success",
                 details='{"i":1}', zone="bj_transport") for _ in range(BATCH)]
    with rt.store.engine.begin() as c:
        c.execute(insert(AuditEvent.__table__), rows)


def single(rt):
    with rt.store.transaction() as s:
        record(s, actor=ACTOR, action=Action.LOGIN, details={"x": 1})


def main():
    print(f"{'db':<11}{'batched ev/s':>14}{'bare insert/s':>15}{'ratio':>7}{'single tx/s':>13}{'integrate ev/s':>16}")
    for kind in kinds():
        with runtime(kind) as rt:
            b = []
            for _ in range(BATCHES):
                t = time.perf_counter()
                batched(rt)
                b.append(BATCH / (time.perf_counter() - t))
            base = []
            for _ in range(BATCHES):
                t = time.perf_counter()
                bare(rt)
                base.append(BATCH / (time.perf_counter() - t))
            t = time.perf_counter()
            for _ in range(SINGLES):
                single(rt)
            singles = SINGLES / (time.perf_counter() - t)
            pending = BATCH * BATCHES * 2 + SINGLES
            t = time.perf_counter()
            n = alog.integrate(rt.store, rt.log_suite)
            integ = n / (time.perf_counter() - t)
            assert n == pending
            print(f"{kind:<11}{median(b):>14,.0f}{median(base):>15,.0f}{median(b) / median(base):>7.2f}"
                  f"{singles:>13,.0f}{integ:>16,.0f}")
    print("targets: batched >= 10,000 ev/s; single >= 500 tx/s (Tessera reports ~2,900 writes/s on 12 cores)")


if __name__ == "__main__":
    main()
