"""The Spark query engine (PySpark, the optional extra `spark`): for zones whose data outgrows one machine.

`url` picks the cluster: empty → `local[2]` (an embedded JVM, as in the tests); `sc://host:port` →
Spark Connect; anything else → a master URL (`spark://…`, `yarn`, `k8s://…`). One SparkSession is
built lazily per engine (an isolated `newSession()` over the process's SparkContext, so two
engines in one process never see each other's views).

Where the data is read. The decrypted Arrow table of each `TableRef` is turned into a DataFrame
(Arrow conversion), persisted in memory only, and registered as a temporary view named
`TableRef.name`; the engine remembers the `TableRef.key` it holds, so warm queries do not reload.
The rows then live in the Spark application's memory (executors on a cluster); what Spark spills
or shuffles goes to its local directories, which the embedded session encrypts
(`spark.io.encryption.enabled`). On a cluster, **encryption at rest is the cluster's own**: local
disk encryption and Spark's I/O and network encryption, set by the cluster's operator, not by
pdzone. pdzone's crypto-shredding of a dataset does not reach the cached copy until
`evict(dataset_id)` drops it (or the application ends).

How it is read. Spark has no read-only session: the allow-list (checked on the partner's text and
again on the transpiled Spark SQL, where `reflect`, `java_method` and friends would show up) is the
fence. The session runs with ANSI mode off, so a CAST of a malformed value gives NULL as TRY_CAST
does (sqlglot writes the rewriter's TRY_CAST as CAST for Spark) and no value makes a query fail;
SQL on files (a file path as a table name) is switched off. Each query runs in its own job group
(an operation tag on Spark Connect) that a watcher cancels from `timeout_s` on. Any failure is an
`EngineFailure` whose text is only the exception's class name (Spark's messages can quote data
values).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from pdzone.cleanroom.engines import EngineFailure, TableRef, register

# set when the session is built (static: the embedded JVM only; a cluster keeps its own settings)
_STATIC_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.io.encryption.enabled": "true",         # spills and shuffle files encrypted on local disk
    "spark.sql.catalogImplementation": "in-memory",  # no Hive metastore, no warehouse directory
}
_LOCAL_CONF = {
    "spark.driver.host": "127.0.0.1",              # the embedded driver listens on loopback only
    "spark.driver.bindAddress": "127.0.0.1",
}
# set on every session (runtime SQL settings; Spark Connect accepts them too)
_SESSION_CONF = {
    "spark.sql.ansi.enabled": "false",             # no data-dependent errors: bad casts give NULL
    "spark.sql.runSQLOnFiles": "false",            # no file path as a table name
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
_QUIET = ("SQLQueryContextLogger", "DataFrameQueryContextLogger", "py4j")


def _arrow_native() -> bool:
    """PySpark 4 takes and gives Arrow tables (createDataFrame, toArrow); 3.5 goes through pandas."""
    from pyspark.sql import DataFrame

    return hasattr(DataFrame, "toArrow")


class SparkEngine:
    """Runs the clean room's transpiled SQL on Spark (dialect `spark`)."""

    name = "spark"
    dialect = "spark"

    def __init__(self, url: str = "", *, app_name: str = "pdzone-cleanroom",
                 shuffle_partitions: int | None = None) -> None:
        self.url = url or "local[2]"
        self.app_name = app_name
        local = self.url.startswith("local")
        # a handful of groups per query: a few partitions suffice locally; a cluster coalesces (AQE)
        self.shuffle_partitions = shuffle_partitions if shuffle_partitions is not None else (2 if local else None)
        self._spark: Any = None
        self._views: dict[str, tuple] = {}     # view name -> the key whose data it holds
        self._frames: dict[str, Any] = {}
        self._lock = threading.RLock()

    # -- the session -----------------------------------------------------------------------------

    @property
    def spark(self):
        if self._spark is None:
            with self._lock:
                if self._spark is None:
                    self._spark = self._build()
        return self._spark

    def _build(self):
        try:
            from pyspark.sql import SparkSession
        except ImportError as e:  # pragma: no cover - depends on the installation
            raise EngineFailure("pyspark is not installed (pip install 'pdzone[spark]')") from e
        for name in _QUIET:
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)  # Spark's error logs can quote data values
        if self.url.startswith("sc://"):
            builder = SparkSession.builder.remote(self.url)
            spark = builder.create() if hasattr(builder, "create") else builder.getOrCreate()
        else:
            builder = SparkSession.builder.master(self.url).appName(self.app_name)
            conf = {**_STATIC_CONF, **(_LOCAL_CONF if self.url.startswith("local") else {})}
            for k, v in conf.items():
                builder = builder.config(k, v)
            base = builder.getOrCreate()
            base.sparkContext.setLogLevel("ERROR")
            spark = base.newSession()
        conf = dict(_SESSION_CONF)
        if self.shuffle_partitions:
            conf["spark.sql.shuffle.partitions"] = str(self.shuffle_partitions)
        for k, v in conf.items():
            with contextlib.suppress(Exception):  # a cluster may pin a setting; the allow-list still holds
                spark.conf.set(k, v)
        return spark

    # -- loading ---------------------------------------------------------------------------------

    def _ensure(self, ref: TableRef) -> None:
        if self._views.get(ref.name) == ref.key:
            return
        with self._lock:
            if self._views.get(ref.name) == ref.key:
                return
            from pyspark import StorageLevel

            table = ref.load()
            # PySpark < 4 takes pandas, not an Arrow table
            df = self.spark.createDataFrame(table if _arrow_native() else table.to_pandas())
            try:
                df = df.persist(StorageLevel.MEMORY_ONLY)   # recomputed from the driver, never spilled
            except Exception:  # Spark Connect may refuse a storage level
                df = df.cache()
            old = self._frames.pop(ref.name, None)
            df.createOrReplaceTempView(ref.name)
            if old is not None:
                with contextlib.suppress(Exception):
                    old.unpersist()
            self._frames[ref.name] = df
            self._views[ref.name] = ref.key

    def evict(self, dataset_id: int) -> int:
        """Drop every cached view of a dataset (call it when the dataset is destroyed)."""
        dropped = 0
        with self._lock:
            for name, key in list(self._views.items()):
                if key and key[0] == dataset_id:
                    self.spark.catalog.dropTempView(name)
                    df = self._frames.pop(name, None)
                    if df is not None:
                        df.unpersist()
                    del self._views[name]
                    dropped += 1
        return dropped

    # -- querying --------------------------------------------------------------------------------

    def execute(self, sql: str, tables: Mapping[str, TableRef], *, timeout_s: float) -> pa.Table:
        try:
            for ref in tables.values():
                self._ensure(ref)
            spark = self.spark
            with self._time_limit(spark, timeout_s):
                df = spark.sql(sql)
                if hasattr(df, "toArrow"):
                    return df.toArrow()
                return pa.Table.from_pandas(df.toPandas(), preserve_index=False)
        except EngineFailure:
            raise
        except Exception as e:  # py4j, Spark Connect (gRPC) and PySpark errors alike
            raise EngineFailure(type(e).__name__) from e

    @contextlib.contextmanager
    def _time_limit(self, spark, timeout_s: float):
        """Mark this thread's jobs and cancel them when the time is up.

        The embedded JVM or a master URL: a job group (a SparkSession's own tags do not reach the
        jobs that `toArrow` starts on a server thread). Spark Connect: an operation tag.
        """
        tag = f"pdzone-{uuid.uuid4().hex}"
        if self.url.startswith("sc://"):
            spark.addTag(tag)

            def cancel():
                spark.interruptTag(tag)

            def done():
                spark.removeTag(tag)
        else:
            sc = spark.sparkContext
            sc.setJobGroup(tag, "pdzone clean-room query", interruptOnCancel=True)

            def cancel():
                sc.cancelJobGroup(tag)

            def done():
                for prop in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
                    sc.setLocalProperty(prop, None)
        finished = threading.Event()

        def watch():
            # cancelling reaches running jobs only: a query still being planned at the deadline
            # submits its jobs later, so keep cancelling until it gives up
            if finished.wait(timeout_s):
                return
            while not finished.is_set():
                with contextlib.suppress(Exception):
                    cancel()
                finished.wait(0.25)

        watcher = threading.Thread(target=watch, name=f"{tag}-timer", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            finished.set()
            with contextlib.suppress(Exception):
                done()


register("spark", SparkEngine)
