"""Sealed files: a dataset's bytes encrypted in segments under the dataset's own data key.

Format (version 1): the 8-byte magic ``PDZSEAL1``, a 4-byte big-endian header length, a JSON
header (suite, segment size, dataset id, version), then segments. Each segment is
``nonce || ciphertext || tag`` of the suite's AEAD (SM4-GCM under `gm`, AES-256-GCM under
`intl`) over at most `segment` plaintext bytes, with the associated data binding the header,
the segment's index and whether it is the last one. Reordering, dropping or appending segments,
or moving a file to another dataset, fails authentication (the STREAM construction).
"""

from __future__ import annotations

import io
import json
import struct

from pdzone.crypto import CryptoSuite
from pdzone.crypto.suites import NONCE, TAG, DecryptionError

MAGIC = b"PDZSEAL1"
SEGMENT = 4 * 1024 * 1024


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if last else 0)


def seal(suite: CryptoSuite, key: bytes, data: bytes, *, context: dict, segment: int = SEGMENT) -> bytes:
    """Encrypt `data`; `context` (e.g. dataset id and version) is bound into every segment."""
    header = json.dumps({"v": 1, "suite": suite.name, "segment": segment, **context}, sort_keys=True,
                        separators=(",", ":")).encode()
    out = io.BytesIO()
    out.write(MAGIC + struct.pack(">I", len(header)) + header)
    n = max(1, -(-len(data) // segment))
    for i in range(n):
        chunk = data[i * segment:(i + 1) * segment]
        out.write(suite.encrypt(key, chunk, _aad(header, i, i == n - 1)))
    return out.getvalue()


def header_of(blob: bytes) -> dict:
    if blob[:8] != MAGIC:
        raise DecryptionError("不是加密数据文件", "not a sealed data file")
    (hlen,) = struct.unpack(">I", blob[8:12])
    return json.loads(blob[12:12 + hlen])


def unseal(suite: CryptoSuite, key: bytes, blob: bytes, *, context: dict) -> bytes:
    """Decrypt and authenticate a sealed file made for the same `context`."""
    head = header_of(blob)
    (hlen,) = struct.unpack(">I", blob[8:12])
    header = blob[12:12 + hlen]
    if any(head.get(k) != v for k, v in context.items()) or head.get("suite") != suite.name:
        raise DecryptionError("数据文件与数据集不符", "the data file belongs to another dataset or suite")
    size = head["segment"] + NONCE + TAG
    body = memoryview(blob)[12 + hlen:]
    n = max(1, -(-len(body) // size))
    parts = []
    for i in range(n):
        seg = bytes(body[i * size:(i + 1) * size])
        parts.append(suite.decrypt(key, seg, _aad(header, i, i == n - 1)))
    return b"".join(parts)
