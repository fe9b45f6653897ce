"""Helpers for the benchmarks: fresh stores on SQLite and PostgreSQL, timing, medians."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from pdzone.config import Settings
from pdzone.db import upgrade
from pdzone.web.runtime import Runtime

PG_URL = os.environ.get("PDZONE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def runtime(kind: str, **settings_kw):
    """A runtime on a fresh database: an SQLite file, or a new PostgreSQL database dropped afterwards."""
    with tempfile.TemporaryDirectory() as d:
        if kind == "sqlite":
            url = f"sqlite:///{d}/bench.db"
            admin = None
        else:
            name = f"pdzone_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"),
                                  isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            url = PG_URL.rsplit("/", 1)[0] + "/" + name
        rt = Runtime.from_settings(Settings(data_dir=Path(d) / "data", database_url=url,
                                            keystore_passphrase="bench", **settings_kw))
        upgrade(rt.store)
        try:
            yield rt
        finally:
            rt.store.dispose()
            if admin is not None:
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


def timed(fn, repeat: int = 5) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def median(xs):
    return statistics.median(xs)


def kinds() -> list[str]:
    return os.environ.get("PDZONE_BENCH_DBS", "sqlite,postgresql").split(",")
