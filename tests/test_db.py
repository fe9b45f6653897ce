"""The store on SQLite: concurrent read-then-write transactions never fail on a stale snapshot."""

from __future__ import annotations

import threading

from sqlalchemy import text

from pdzone.db import Store


def test_concurrent_read_then_write_transactions_all_commit(tmp_path):
    # Under WAL a deferred transaction that reads, then writes after another connection committed, fails at once
    # (SQLITE_BUSY_SNAPSHOT); write transactions therefore begin IMMEDIATE.
    store = Store(f"sqlite:///{tmp_path}/race.db")
    with store.engine.begin() as c:
        c.execute(text("CREATE TABLE t (x INTEGER)"))
    errors: list[Exception] = []

    def writer():
        for _ in range(100):
            try:
                with store.transaction() as s:
                    n = s.execute(text("SELECT count(*) FROM t")).scalar()
                    s.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            except Exception as e:  # reported below
                errors.append(e)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.engine.connect() as c:
        # each transaction saw every earlier commit: the counts it wrote are exactly 0..399
        assert sorted(x for (x,) in c.execute(text("SELECT x FROM t"))) == list(range(400))
    store.dispose()
