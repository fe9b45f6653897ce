"""Merkle tree hashing and proofs in the style of RFC 9162 (Certificate Transparency v2), §2.1.

The hash function comes from the crypto suite (SM3 under `gm`, SHA-256 under `intl`):

* leaf hash  = H(0x00 || leaf bytes)
* node hash  = H(0x01 || left || right)
* empty tree = H("")

Trees are split as RFC 9162 splits them: the left subtree holds the largest power of two
smaller than the tree size. Every subtree in a proof is therefore either a *perfect* subtree
(2**level leaves, aligned) or a right-edge subtree made of perfect ones; the store keeps the
hash of every perfect subtree as a node (level, index), so proofs need only a handful of reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

HashFn = Callable[[bytes], bytes]
Node = tuple[int, int]  # (level, index): the perfect subtree over leaves [index*2**level, (index+1)*2**level)


def leaf_hash(h: HashFn, data: bytes) -> bytes:
    return h(b"\x00" + data)


def node_hash(h: HashFn, left: bytes, right: bytes) -> bytes:
    return h(b"\x01" + left + right)


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_cover(a: int, b: int) -> list[Node]:
    """The perfect subtrees, left to right, whose hashes fold into MTH(D[a:b]).

    Valid for the ranges RFC 9162 recursion produces: `a` aligned to a power of two >= b - a.
    """
    out: list[Node] = []
    while a < b:
        n = b - a
        if n & (n - 1) == 0:
            level = n.bit_length() - 1
            out.append((level, a >> level))
            break
        k = _split(n)
        level = k.bit_length() - 1
        out.append((level, a >> level))
        a += k
    return out


def fold(h: HashFn, hashes: list[bytes]) -> bytes:
    """Fold perfect-subtree hashes (left to right, sizes decreasing) into the range's hash."""
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(h, left, acc)
    return acc


def inclusion_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form PATH(m, D[0:n]), from the leaf upward (RFC 9162 §2.1.3.1)."""
    if not 0 <= m < n:
        raise ValueError("leaf index out of range")
    out: list[tuple[int, int]] = []
    lo, hi = 0, n
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo = lo + k
    out.reverse()
    return out


def consistency_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PROOF(m, D[0:n]) (RFC 9162 §2.1.4.1), in proof order."""
    if not 0 < m <= n:
        raise ValueError("tree sizes out of range")
    out: list[tuple[int, int]] = []

    def sub(m: int, lo: int, hi: int, whole: bool) -> None:
        if lo + m == hi:
            if not whole:
                out.append((lo, hi))
            return
        k = _split(hi - lo)
        if m <= k:
            sub(m, lo, lo + k, whole)
            out.append((lo + k, hi))
        else:
            sub(m - k, lo + k, hi, False)
            out.append((lo, lo + k))

    if m < n:
        sub(m, 0, n, True)
    return out


def nodes_for(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    need: set[Node] = set()
    for a, b in ranges:
        need.update(perfect_cover(a, b))
    return need


def range_hash(h: HashFn, nodes: Mapping[Node, bytes], a: int, b: int) -> bytes:
    return fold(h, [nodes[x] for x in perfect_cover(a, b)])


def verify_inclusion(h: HashFn, m: int, n: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` show the leaf hash `leaf` at index m in a tree of size n?"""
    if not 0 <= m < n:
        return False
    fn, sn, r = m, n - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(h, p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(h, r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(h: HashFn, m: int, n: int, root1: bytes, root2: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of size n with root2 an extension of size m with root1?"""
    if m == n:
        return root1 == root2 and not proof
    if not 0 < m < n or not proof:
        return False
    if m & (m - 1) == 0:
        proof = [root1, *proof]
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(h, c, fr)
            sr = node_hash(h, c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(h, sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0


class CompactRange:
    """The right edge of a growing tree: perfect-subtree hashes covering [0, size).

    `append` returns the new perfect nodes it completed, which the store keeps for proofs.
    """

    def __init__(self, h: HashFn, size: int = 0, hashes: list[bytes] | None = None) -> None:
        self.h = h
        self.size = size
        self.hashes = list(hashes or [])
        if len(self.hashes) != bin(size).count("1"):
            raise ValueError("compact range does not match its size")

    def append(self, leaf_h: bytes) -> list[tuple[int, int, bytes]]:
        idx = self.size
        new = [(0, idx, leaf_h)]
        self.hashes.append(leaf_h)
        self.size += 1
        level = 0
        while (idx >> level) & 1:  # merge while the subtree just completed has a left sibling
            right = self.hashes.pop()
            left = self.hashes.pop()
            merged = node_hash(self.h, left, right)
            self.hashes.append(merged)
            level += 1
            new.append((level, idx >> level, merged))
        return new

    def push(self, leaf_h: bytes) -> None:
        """`append` without reporting the new nodes (the verifier's hot path)."""
        hashes, h = self.hashes, self.h
        hashes.append(leaf_h)
        idx = self.size
        self.size = idx + 1
        while idx & 1:
            right = hashes.pop()
            hashes[-1] = h(b"\x01" + hashes[-1] + right)
            idx >>= 1

    def root(self) -> bytes:
        if not self.hashes:
            return self.h(b"")
        return fold(self.h, self.hashes)
