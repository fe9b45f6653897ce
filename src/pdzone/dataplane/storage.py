"""Dataset storage: Parquet, sealed under the dataset's data key, in the data dir.

Data keys are random per dataset and kept only wrapped (encrypted) under a key-encryption key
from the key store; the catalog stores the wrapped key. Destroying the wrapped key makes every
file, cache and derived copy under it unrecoverable (crypto-shredding, R-32). Decrypted tables
live only in this process's memory (an LRU cache for warm queries), never on disk.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pdzone.crypto import CryptoSuite, KeyStore
from pdzone.crypto.keystore import write_private
from pdzone.dataplane.sealed import seal, unseal


def kek(keystore: KeyStore, suite: CryptoSuite) -> bytes:
    return keystore.secret(f"kek:datasets:{suite.name}", suite.data_key_len)


def new_wrapped_key(keystore: KeyStore, suite: CryptoSuite, dataset_id: int) -> bytes:
    """A fresh data key for a dataset, returned only wrapped under the key-encryption key."""
    return suite.encrypt(kek(keystore, suite), suite.new_data_key(), aad=f"dataset:{dataset_id}".encode())


def unwrap(keystore: KeyStore, suite: CryptoSuite, dataset_id: int, wrapped: bytes) -> bytes:
    return suite.decrypt(kek(keystore, suite), bytes(wrapped), aad=f"dataset:{dataset_id}".encode())


class _Cache:
    """Decrypted tables, bounded by bytes; entries of a destroyed dataset are dropped at once."""

    def __init__(self, max_bytes: int = 2 * 1024**3) -> None:
        self.max = max_bytes
        self._d: OrderedDict[tuple[str, int, int], pa.Table] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, k):
        with self._lock:
            t = self._d.get(k)
            if t is not None:
                self._d.move_to_end(k)
            return t

    def put(self, k, t: pa.Table) -> None:
        with self._lock:
            self._d[k] = t
            while sum(x.nbytes for x in self._d.values()) > self.max and len(self._d) > 1:
                self._d.popitem(last=False)

    def drop(self, dataset_id: int, root: str | None = None) -> None:
        with self._lock:
            for k in [k for k in self._d if k[1] == dataset_id and (root is None or k[0] == root)]:
                del self._d[k]


CACHE = _Cache()


class DatasetStorage:
    """Where sealed dataset versions live: DATA_DIR/datasets/<id>/v<version>.parquet.sealed."""

    def __init__(self, root: Path, suite: CryptoSuite) -> None:
        self.root = root
        self.suite = suite

    def path(self, dataset_id: int, version: int) -> Path:
        return self.root / "datasets" / str(dataset_id) / f"v{version}.parquet.sealed"

    def write(self, dataset_id: int, version: int, table: pa.Table, key: bytes) -> tuple[Path, str]:
        """Seal and write one version; returns its path and the SM3/SHA-256 digest of the plaintext."""
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        data = buf.getvalue()
        digest = self.suite.hash(data).hex()
        path = self.path(dataset_id, version)
        write_private(path, seal(self.suite, key, data, context={"dataset": dataset_id, "version": version}))
        return path, digest

    def read(self, dataset_id: int, version: int, key: bytes) -> pa.Table:
        ck = (str(self.root.resolve()), dataset_id, version)  # one process may serve several stores (tests)
        cached = CACHE.get(ck)
        if cached is not None:
            return cached
        blob = self.path(dataset_id, version).read_bytes()
        data = unseal(self.suite, key, blob, context={"dataset": dataset_id, "version": version})
        table = pq.read_table(io.BytesIO(data))
        CACHE.put(ck, table)
        return table

    def read_derived(self, dataset_id: int, version: int, variant: str, key: bytes,
                     build: Callable[[], pa.Table]) -> tuple[pa.Table, bool]:
        """A copy derived from one version (e.g. contribution-bounded), sealed under the same data key.

        Built once, stored beside the version and cached; destroying the dataset shreds it too.
        Returns the table and whether it had to be built now (a cold start).
        """
        ck = (str(self.root.resolve()), dataset_id, (version, variant))
        cached = CACHE.get(ck)
        if cached is not None:
            return cached, False
        path = self.root / "datasets" / str(dataset_id) / f"v{version}.{variant}.parquet.sealed"
        context = {"dataset": dataset_id, "version": version, "variant": variant}
        built = not path.exists()
        if built:
            table = build()
            buf = io.BytesIO()
            pq.write_table(table, buf, compression="zstd")
            write_private(path, seal(self.suite, key, buf.getvalue(), context=context))
        else:
            table = pq.read_table(io.BytesIO(unseal(self.suite, key, path.read_bytes(), context=context)))
        CACHE.put(ck, table)
        return table, built

    def destroy(self, dataset_id: int) -> None:
        """Remove every sealed file and cached copy of a dataset (its key is destroyed by the catalog)."""
        CACHE.drop(dataset_id, str(self.root.resolve()))
        shutil.rmtree(self.root / "datasets" / str(dataset_id), ignore_errors=True)


def fingerprint(table: pa.Table) -> str:
    """A digest of a table's schema and size, for version history (not of its values)."""
    return hashlib.sha256(f"{table.schema}|{table.num_rows}".encode()).hexdigest()[:16]
