"""Sealed dataset storage: round trip, tamper evidence, binding to the dataset, crypto-shredding."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdzone.crypto import LocalKeyStore, get_suite
from pdzone.crypto.suites import DecryptionError
from pdzone.dataplane import storage
from pdzone.dataplane.sealed import seal, unseal


@pytest.mark.parametrize("suite_name", ["gm", "intl"])
@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=5000), segment=st.integers(16, 700))
def test_seal_round_trip_and_segment_tampering(suite_name, data, segment):
    suite = get_suite(suite_name)
    key = suite.new_data_key()
    blob = seal(suite, key, data, context={"dataset": 1, "version": 1}, segment=segment)
    assert unseal(suite, key, blob, context={"dataset": 1, "version": 1}) == data
    with pytest.raises(DecryptionError):
        unseal(suite, key, blob, context={"dataset": 2, "version": 1})
    with pytest.raises(DecryptionError):
        unseal(suite, key, blob[:-1], context={"dataset": 1, "version": 1})


@pytest.mark.parametrize("suite_name", ["gm", "intl"])
def test_dropping_or_reordering_segments_is_caught(suite_name):
    suite = get_suite(suite_name)
    key = suite.new_data_key()
    ctx = {"dataset": 1, "version": 1}
    blob = seal(suite, key, b"a" * 300, context=ctx, segment=100)  # three segments of 100 + 28 bytes
    head = len(blob) - 3 * 128
    body = [blob[head + i * 128: head + (i + 1) * 128] for i in range(3)]
    for forged in (blob[:head] + body[0] + body[1], blob[:head] + body[1] + body[0] + body[2]):
        with pytest.raises(DecryptionError):
            unseal(suite, key, forged, context=ctx)


def test_dataset_round_trip_and_crypto_shredding(tmp_path):
    suite = get_suite("gm")
    ks = LocalKeyStore(tmp_path / "keys", b"pw")
    store = storage.DatasetStorage(tmp_path, suite)
    wrapped = storage.new_wrapped_key(ks, suite, 7)
    key = storage.unwrap(ks, suite, 7, wrapped)
    table = pa.table({"姓名": ["张三", "李四"], "金额": [1.5, 2.0]})
    path, _digest = store.write(7, 1, table, key)
    raw = path.read_bytes()
    assert "张三".encode() not in raw and b"PAR1" not in raw  # nothing readable at rest
    assert path.stat().st_mode & 0o777 == 0o600
    storage.CACHE.drop(7)
    assert store.read(7, 1, key).equals(table)
    with pytest.raises(DecryptionError):
        storage.unwrap(ks, suite, 8, wrapped)  # a wrapped key is bound to its dataset
    store.destroy(7)
    assert not path.exists() and storage.CACHE.get((str(tmp_path.resolve()), 7, 1)) is None
    # Without the data key a kept copy of the file is noise.
    with pytest.raises(DecryptionError):
        unseal(suite, suite.new_data_key(), raw, context={"dataset": 7, "version": 1})
