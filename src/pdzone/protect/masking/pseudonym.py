"""Keyed pseudonyms (假名化): HMAC-SM3 under ``gm``, HMAC-SHA256 under ``intl``, keyed per zone and recipient.

The engine has no SM3, so pseudonyms are computed here, on the Arrow column the engine returns. HMAC is
``H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m))`` with a 64-byte block for both SM3 and SHA-256; the two padded key blocks
are hashed once when a :class:`Pseudonymizer` is made and each value continues from a copy of those states, which
is about twice as fast as a fresh HMAC object per value. In a column whose values repeat, each distinct value is
hashed once.

Token format: the first 16 bytes (128 bits) of the HMAC of the value's UTF-8 bytes, as 32 lowercase hex
characters. The same value under the same key always gives the same token; without the key a token reveals
nothing of the value, and the keys of two recipients give unrelated tokens, so they cannot join their data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives import hashes

from pdzone.crypto import KeyStore, get_suite
from pdzone.errors import Invalid

TOKEN_BYTES = 16
BLOCK = 64  # SM3 and SHA-256 both hash 64-byte blocks
MIN_KEY = 16
ROOT_SECRET = "pseudonym-root"
_BATCH = 1 << 16  # values turned into Python objects at a time
_CACHE_LIMIT = 1 << 18  # tokens remembered per call (some 50 MB at most)
_TEXT_TYPES = (pa.string(), pa.large_string(), pa.string_view())
_BINARY_TYPES = (pa.binary(), pa.large_binary(), pa.binary_view())


class _CryptographyHash:
    """``hashes.Hash`` with hashlib's names, for a Python whose OpenSSL has no SM3."""

    def __init__(self, h: hashes.Hash) -> None:
        self._h = h

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def copy(self) -> _CryptographyHash:
        return _CryptographyHash(self._h.copy())

    def digest(self) -> bytes:
        return self._h.finalize()

    def hexdigest(self) -> str:
        return self.digest().hex()


def _hash_new(suite: str) -> Callable[[], Any]:
    if suite == "intl":
        return hashlib.sha256
    try:
        hashlib.new("sm3")
        return lambda: hashlib.new("sm3")
    except ValueError:  # pragma: no cover - depends on the OpenSSL Python was built with
        return lambda: _CryptographyHash(hashes.Hash(hashes.SM3()))


class Pseudonymizer:
    """Pseudonyms under one key: ``Pseudonymizer(pseudonym_key(ks, zone=…, recipient=…, suite="gm"), "gm")``."""

    def __init__(self, key: bytes, suite: str = "gm") -> None:
        self.suite = get_suite(suite).name  # refuses an unknown suite
        if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY:
            raise Invalid("假名化密钥至少 16 字节", "a pseudonym key has at least 16 bytes",
                          code="invalid_pseudonym_key")
        new = _hash_new(self.suite)
        key = bytes(key)
        if len(key) > BLOCK:
            h = new()
            h.update(key)
            key = h.digest()
        key = key.ljust(BLOCK, b"\0")
        self._inner, self._outer = new(), new()
        self._inner.update(bytes(b ^ 0x36 for b in key))
        self._outer.update(bytes(b ^ 0x5C for b in key))
        self.key_id = get_suite(self.suite).hash(b"pdzone/pseudonym-key-id\x00" + key)[:8].hex()
        """Names the key in audit records and receipts without revealing it."""

    def mac(self, data: bytes) -> bytes:
        """The full HMAC of ``data``: equal to ``get_suite(suite).hmac(key, data)``."""
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def token(self, value: str | bytes) -> str:
        """The pseudonym of one value (text is hashed as UTF-8)."""
        return self.mac(value.encode() if isinstance(value, str) else value)[:TOKEN_BYTES].hex()

    def _tokens(self, values: list[Any]) -> list[str | None]:
        # The hot loop: one value costs two state copies, two updates and two digests.
        inner_copy, outer_copy, cut = self._inner.copy, self._outer.copy, 2 * TOKEN_BYTES
        out: list[str | None] = []
        append = out.append
        for v in values:
            if v is None:
                append(None)
                continue
            h = inner_copy()
            h.update(v.encode() if v.__class__ is str else v)
            o = outer_copy()
            o.update(h.digest())
            append(o.hexdigest()[:cut])
        return out

    def _tokens_cached(self, values: list[Any], cache: dict[Any, str | None]) -> tuple[list[str | None], int]:
        # For columns that repeat (codes, join keys): each distinct value is hashed once. Also says how many
        # distinct values the batch held.
        distinct = list(dict.fromkeys(values))
        missing = [v for v in distinct if v not in cache]
        if len(cache) + len(missing) > _CACHE_LIMIT:
            cache.clear()
            missing = distinct
        cache.update(zip(missing, self._tokens(missing), strict=True))
        get = cache.get
        return [get(v) for v in values], len(distinct)

    def pseudonym(self, values: pa.Array | pa.ChunkedArray | Sequence[str | bytes | None]) -> pa.Array:
        """Pseudonyms of a column: a ``pa.string()`` array of tokens, NULL where the value is NULL.

        Takes text, binary or integer Arrow arrays (integers as their decimal text, as SQL's ``CAST(x AS VARCHAR)``
        writes them; a dictionary array hashes its dictionary only) or a list of ``str``/``bytes``/None. Other types
        are refused rather than formatted one way here and another way elsewhere, which would break joins on the
        pseudonyms. Works through the column in batches, so memory stays bounded.
        """
        arr = _as_array(values)
        if pa.types.is_dictionary(arr.type):
            return pc.take(self.pseudonym(arr.dictionary), arr.indices)
        cache: dict[Any, str | None] = {}
        chunks, repeats = [], True
        for at in range(0, len(arr), _BATCH):
            batch = arr.slice(at, _BATCH).to_pylist()
            # Deduplicating costs about half an HMAC per value (measured): it stays on only while the batches
            # hold at most half as many distinct values as values.
            if repeats:
                tokens, distinct = self._tokens_cached(batch, cache)
                repeats = distinct * 2 <= len(batch)
            else:
                tokens = self._tokens(batch)
            chunks.append(pa.array(tokens, type=pa.string()))
        return pa.concat_arrays(chunks) if chunks else pa.array([], type=pa.string())


def _as_array(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if not isinstance(values, pa.Array):
        try:
            values = pa.array(list(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as e:
            raise Invalid("假名化的输入须为文本", "pseudonyms are made of text values",
                          code="invalid_pseudonym_input") from e
    t = values.type
    if pa.types.is_null(t):
        return values.cast(pa.string())
    if pa.types.is_integer(t):
        return pc.cast(values, pa.string())
    if pa.types.is_dictionary(t):
        return pa.DictionaryArray.from_arrays(values.indices, _as_array(values.dictionary))
    if t in _TEXT_TYPES or t in _BINARY_TYPES:
        return values
    raise Invalid(f"假名化不接受类型 {t} 的值（请先转为文本）",
                  f"pseudonyms take text, not {t} (cast it to text first)", code="invalid_pseudonym_input")


def _length_prefixed(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(4, "big") + data


def pseudonym_key(keystore: KeyStore, *, zone: str, recipient: str, suite: str) -> bytes:
    """The pseudonym key of one recipient in one zone.

    ``HMAC(root, "pdzone/pseudonym/v1" ‖ 0x00 ‖ len(zone) ‖ zone ‖ len(recipient) ‖ recipient)`` under the suite,
    lengths as 4-byte big-endian, where ``root`` is the key store's ``pseudonym-root`` secret. The lengths make the
    encoding unambiguous for any names; the root never leaves the key store's process. A recipient's pseudonyms stay
    stable across releases (they can join their own deliveries) and cannot be linked to another recipient's or
    another zone's.
    """
    for what, value in (("zone", zone), ("recipient", recipient)):
        if not isinstance(value, str) or not value:
            raise Invalid(f"假名化密钥须指明{'专区' if what == 'zone' else '接收方'}",
                          f"a pseudonym key needs a {what}", code="invalid_pseudonym_key")
    root = keystore.secret(ROOT_SECRET, 32)
    message = b"pdzone/pseudonym/v1\x00" + _length_prefixed(zone) + _length_prefixed(recipient)
    return get_suite(suite).hmac(root, message)
