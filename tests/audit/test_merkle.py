"""Proofs from stored perfect subtrees against a brute-force tree built from the RFC 6962 definitions."""

import functools
import hashlib
import random
from collections.abc import Mapping, Sequence

import pytest

from redline.audit.merkle import (
    CompactRange,
    Node,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    range_hashes,
    root_hash,
    verify_consistency,
    verify_inclusion,
)


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@functools.cache
def _mth(leaves: tuple[bytes, ...]) -> bytes:
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return _h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return _h(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 section 2.1, recursively (memoised: tests ask for the same subtrees often)."""
    return _mth(tuple(leaves))


def path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 section 2.1.1."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 6962 section 2.1.2."""
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m <= k:
        return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


class StoredTree:
    """Perfect-subtree hashes as `CompactRange` reports them on append: what the log stores."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.nodes: dict[Node, bytes] = {}
        self.builder = CompactRange()
        for i, data in enumerate(leaves):
            for level, h in enumerate(self.builder.append(leaf_hash(data))):
                self.nodes[Node(level, i >> level)] = h
        self.reads: list[int] = []

    def fetch(self, nodes: Sequence[Node]) -> Mapping[Node, bytes]:
        self.reads.append(len(nodes))
        return {n: self.nodes[n] for n in nodes}

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return range_hashes(inclusion_ranges(index, size), self.fetch)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return range_hashes(consistency_ranges(old, new), self.fetch)


LEAVES = [f"entry {i}".encode() for i in range(1100)]
SMALL = 300


@pytest.fixture(scope="module")
def tree() -> StoredTree:
    return StoredTree(LEAVES)


def test_roots_match_the_definition_for_every_size(tree: StoredTree) -> None:
    builder = CompactRange()
    for n in range(SMALL + 1):
        assert root_hash(n, tree.fetch) == mth(LEAVES[:n]) == builder.root()
        builder.append(leaf_hash(LEAVES[n]))


def test_inclusion_proofs_for_every_index_of_every_small_size(tree: StoredTree) -> None:
    for n in range(1, SMALL + 1):
        root = mth(LEAVES[:n])
        for m in range(n):
            proof = tree.inclusion(m, n)
            assert proof == path(m, LEAVES[:n])
            assert verify_inclusion(leaf_hash(LEAVES[m]), m, n, proof, root)


def test_consistency_proofs_for_every_old_size_of_every_small_size(tree: StoredTree) -> None:
    for n in range(1, SMALL + 1):
        new_root = mth(LEAVES[:n])
        for m in range(n + 1):
            proof = tree.consistency(m, n)
            assert proof == (subproof(m, LEAVES[:n], True) if 0 < m < n else [])
            assert verify_consistency(m, n, mth(LEAVES[:m]), new_root, proof)


def test_random_larger_sizes(tree: StoredTree) -> None:
    rng = random.Random(6962)
    for _ in range(40):
        n = rng.randint(SMALL, len(LEAVES))
        m = rng.randrange(n)
        root = mth(LEAVES[:n])
        assert verify_inclusion(leaf_hash(LEAVES[m]), m, n, tree.inclusion(m, n), root)
        old = rng.randint(1, n)
        assert tree.consistency(old, n) == (subproof(old, LEAVES[:n], True) if old < n else [])
        assert verify_consistency(old, n, mth(LEAVES[:old]), root, tree.consistency(old, n))


def test_a_proof_is_one_read_of_logarithmically_many_hashes(tree: StoredTree) -> None:
    tree.reads.clear()
    tree.inclusion(700, 1099)
    tree.consistency(333, 1099)
    assert len(tree.reads) == 2
    assert max(tree.reads) <= 2 * (1099).bit_length()


def test_inclusion_rejects_a_wrong_leaf_index_size_root_or_path(tree: StoredTree) -> None:
    n, m = 77, 21
    root, leaf = mth(LEAVES[:n]), leaf_hash(LEAVES[m])
    proof = tree.inclusion(m, n)
    assert verify_inclusion(leaf, m, n, proof, root)
    assert not verify_inclusion(leaf_hash(b"forged"), m, n, proof, root)
    assert not verify_inclusion(leaf, m + 1, n, proof, root)
    assert not verify_inclusion(leaf, m, 2 * n, proof, root)
    assert not verify_inclusion(leaf, m, n, proof, mth(LEAVES[: n - 1]))
    assert not verify_inclusion(leaf, m, n, proof[:-1], root)
    assert not verify_inclusion(leaf, m, n, [*proof, proof[0]], root)
    assert not verify_inclusion(leaf, m, n, [_h(b"x"), *proof[1:]], root)
    assert not verify_inclusion(leaf, n, n, proof, root)


def test_consistency_rejects_a_rewritten_prefix_or_wrong_sizes(tree: StoredTree) -> None:
    old, new = 13, 50
    old_root, new_root = mth(LEAVES[:old]), mth(LEAVES[:new])
    proof = tree.consistency(old, new)
    assert verify_consistency(old, new, old_root, new_root, proof)
    rewritten = [*LEAVES[:5], b"rewritten", *LEAVES[6:old]]
    assert not verify_consistency(old, new, mth(rewritten), new_root, proof)
    assert not verify_consistency(old + 1, new, old_root, new_root, proof)
    assert not verify_consistency(old, 2 * new, old_root, new_root, proof)
    assert not verify_consistency(old, new, old_root, new_root, proof[:-1])
    assert not verify_consistency(old, new, old_root, new_root, [])
    assert not verify_consistency(new, old, new_root, old_root, proof)
    assert not verify_consistency(old, old, old_root, new_root, [])


def test_compact_range_rejects_a_state_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="perfect subtrees"):
        CompactRange(3, [_h(b"one")])
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_ranges(5, 5)


# The reference tree of Certificate Transparency's own test suites: other implementations' answers.
CT_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                         "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    0: ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    5: ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}


def test_certificate_transparency_reference_vectors() -> None:
    ct = StoredTree(CT_LEAVES)
    assert root_hash(0, ct.fetch).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert [root_hash(n, ct.fetch).hex() for n in range(1, 9)] == CT_ROOTS
    for index, proof in CT_INCLUSION.items():
        assert [h.hex() for h in ct.inclusion(index, 8)] == proof
