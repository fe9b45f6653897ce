"""Merkle proofs against a direct RFC 9162 reference, for every shape of tree (property tests)."""

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from pdzone.audit import merkle as M
from pdzone.crypto import get_suite

SHA = lambda b: hashlib.sha256(b).digest()  # noqa: E731
SM3 = get_suite("gm").hash


def mth(h, leaves):
    """MTH straight from RFC 9162 §2.1.1."""
    n = len(leaves)
    if n == 0:
        return h(b"")
    if n == 1:
        return M.leaf_hash(h, leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return M.node_hash(h, mth(h, leaves[:k]), mth(h, leaves[k:]))


def build(h, leaves):
    cr, nodes = M.CompactRange(h), {}
    for leaf in leaves:
        for lv, ix, hh in cr.append(M.leaf_hash(h, leaf)):
            nodes[(lv, ix)] = hh
    return cr, nodes


def test_rfc6962_known_root():
    # The empty-tree hash and a one-leaf root as RFC 6962 test vectors give them (SHA-256).
    assert SHA(b"").hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert M.leaf_hash(SHA, b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 80), data=st.data())
def test_inclusion_proofs_verify_and_bind(n, data):
    h = data.draw(st.sampled_from([SHA, SM3]))
    leaves = [f"event {i}".encode() for i in range(n)]
    cr, nodes = build(h, leaves)
    root = mth(h, leaves)
    assert cr.root() == root
    m = data.draw(st.integers(0, n - 1))
    proof = [M.range_hash(h, nodes, a, b) for a, b in M.inclusion_ranges(m, n)]
    assert M.verify_inclusion(h, m, n, M.leaf_hash(h, leaves[m]), proof, root)
    assert not M.verify_inclusion(h, m, n, M.leaf_hash(h, b"forged"), proof, root)
    if n > 1:
        other = (m + 1) % n
        assert not M.verify_inclusion(h, other, n, M.leaf_hash(h, leaves[m]), proof, root)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 80), data=st.data())
def test_consistency_proofs_verify_and_bind(n, data):
    h = SHA
    leaves = [f"event {i}".encode() for i in range(n)]
    _, nodes = build(h, leaves)
    m = data.draw(st.integers(1, n))
    proof = [M.range_hash(h, nodes, a, b) for a, b in M.consistency_ranges(m, n)]
    assert M.verify_consistency(h, m, n, mth(h, leaves[:m]), mth(h, leaves), proof)
    if m < n:
        rewritten = [*leaves[:m - 1], b"rewritten", *leaves[m:]]
        assert not M.verify_consistency(h, m, n, mth(h, rewritten[:m]), mth(h, leaves), proof)
        assert not M.verify_consistency(h, m, n, mth(h, leaves[:m]), mth(h, rewritten), proof)
