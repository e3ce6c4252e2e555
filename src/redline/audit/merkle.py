"""RFC 9162 Merkle tree hashing, proofs and proof verification, independent of storage.

Storage only has to hand out hashes of *perfect* subtrees (2**level leaves, aligned):
`Node(level, position)` covers leaves [position * 2**level, (position + 1) * 2**level). Every subtree hash a
proof needs is the hash of a range that splits into at most O(log n) such nodes, so a proof costs one batched
read of O(log n) hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """Hash of one log entry (the 0x00 prefix keeps leaves and interior nodes apart)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Node(NamedTuple):
    """A perfect subtree: 2**level leaves starting at leaf position * 2**level."""

    level: int
    position: int

    @property
    def last_leaf(self) -> int:
        """The leaf whose append completes this subtree."""
        return ((self.position + 1) << self.level) - 1


Fetch = Callable[[Sequence[Node]], Mapping[Node, bytes]]
"""Reads the stored hashes of the given perfect subtrees in one go."""

Range = tuple[int, int]


def _split(size: int) -> int:
    """The largest power of two strictly below `size` (RFC 9162 `k`)."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[Node]:
    """Split leaves [start, end) into aligned perfect subtrees, largest (leftmost) first.

    Only valid for the ranges RFC 9162 trees are made of: `start` is aligned to a power of two >= end - start.
    """
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append(Node(level, start >> level))
        start += 1 << level
    return nodes


def combine(hashes: Sequence[bytes]) -> bytes:
    """Hash of a range from the hashes of its perfect subtrees, largest first (right-to-left fold)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """Leaf ranges whose hashes prove leaf `index` is in a tree of `size` (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} entries")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]


def consistency_ranges(old: int, new: int) -> list[Range]:
    """Leaf ranges whose hashes prove a tree of `old` entries is a prefix of `new` (RFC 9162 2.1.4.1)."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from {old} to {new} entries")
    if old in (0, new):
        return []
    ranges: list[Range] = []
    start, end, whole = 0, new, True
    while end != old:
        k = _split(end - start)
        if old - start <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, whole = start + k, False
    if not whole:
        ranges.append((start, end))
    return ranges[::-1]


def range_hashes(ranges: Sequence[Range], fetch: Fetch) -> list[bytes]:
    """The hash of each range, reading every perfect subtree they need in one `fetch`."""
    splits = [perfect_subtrees(start, end) for start, end in ranges]
    stored = fetch(sorted({node for nodes in splits for node in nodes}))
    return [combine([stored[node] for node in nodes]) for nodes in splits]


def root_hash(size: int, fetch: Fetch) -> bytes:
    return range_hashes([(0, size)], fetch)[0] if size else EMPTY_ROOT


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2: does `path` prove leaf hash `leaf` sits at `index` of the tree with `root`?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2: does `path` prove the tree (`old`, `old_root`) is a prefix of (`new`, `new_root`)?"""
    if not 0 <= old <= new:
        return False
    if old == new:
        return not path and old_root == new_root
    if old == 0:
        return not path
    if not path:
        return False
    if old & (old - 1) == 0:
        path = [old_root, *path]
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


class CompactRange:
    """The right edge of a tree grown leaf by leaf: the hashes of its perfect subtrees, largest first.

    Appending needs only this O(log n) state, and reports which perfect subtrees each leaf completes so the
    caller can store them for later proofs.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of {size} entries has {size.bit_count()} perfect subtrees")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> list[bytes]:
        """Add a leaf hash; return the hashes of the subtrees it completes, by level (the leaf first)."""
        completed = [leaf]
        h, size = leaf, self.size
        while size & 1:
            h = node_hash(self.hashes.pop(), h)
            completed.append(h)
            size >>= 1
        self.hashes.append(h)
        self.size += 1
        return completed

    def root(self) -> bytes:
        return combine(self.hashes)
