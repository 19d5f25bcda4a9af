"""Merkle trees as RFC 6962 §2.1 defines them (RFC 9162 §2.1): tree heads, inclusion and
consistency proofs, and their verifiers.

A leaf's hash is SHA-256(0x00 || data), an inner node's SHA-256(0x01 || left || right), the
empty tree's SHA-256(""). The tree over n leaves splits at the largest power of two below n,
so a tree grows by appending without changing any complete subtree: that is what lets a
signed tree head of size m be proved a prefix of one of size n.

`Tree` computes a root in one pass over the leaf hashes, keeping only the roots of the
complete subtrees seen so far (at most log2(n) of them); proofs are built over a sequence
of leaf hashes by walking ranges, never by recursion over copied lists. The verifiers
follow RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step for step."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Tree:
    """A tree that leaves are appended to, with its root at any time: the roots of its
    complete subtrees, largest first (a compact range from 0)."""

    __slots__ = ("_sizes", "_stack", "size")

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []
        self._sizes: list[int] = []

    def append(self, leaf: bytes) -> None:
        """Append a leaf by its leaf hash (see `leaf_hash`)."""
        h, size = leaf, 1
        stack, sizes = self._stack, self._sizes
        while sizes and sizes[-1] == size:  # merge equal complete subtrees
            h = node_hash(stack.pop(), h)
            sizes.pop()
            size *= 2
        stack.append(h)
        sizes.append(size)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            h = node_hash(left, h)
        return h


def root(leaves: Iterable[bytes]) -> bytes:
    """The tree head over `leaves` (leaf hashes), in one pass."""
    tree = Tree()
    tree.extend(leaves)
    return tree.root()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Subtrees:
    """The roots of ranges of one sequence of leaf hashes, remembering those of aligned
    complete subtrees of at least `MEMO` leaves, so that many proofs over the same leaves
    (a consistency proof between every two checkpoints) cost about log2(n) * MEMO hashes
    each instead of n."""

    MEMO = 256

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves
        self._memo: dict[tuple[int, int], bytes] = {}

    def __len__(self) -> int:
        return len(self.leaves)

    def _complete(self, start: int, size: int) -> bytes:
        if size < self.MEMO or start % size:
            tree = Tree()
            for i in range(start, start + size):
                tree.append(self.leaves[i])
            return tree.root()
        key = (start, size)
        if (h := self._memo.get(key)) is None:
            half = size // 2
            h = self._memo[key] = node_hash(
                self._complete(start, half), self._complete(start + half, half)
            )
        return h

    def root(self, lo: int, hi: int) -> bytes:
        """The tree head over leaves[lo:hi]: its complete subtrees, largest first."""
        if lo == hi:
            return EMPTY_ROOT
        parts = []
        while lo < hi:
            size = 1 << ((hi - lo).bit_length() - 1)
            parts.append(self._complete(lo, size))
            lo += size
        h = parts[-1]
        for left in reversed(parts[:-1]):
            h = node_hash(left, h)
        return h


def _subtrees(leaves: Sequence[bytes] | Subtrees) -> Subtrees:
    return leaves if isinstance(leaves, Subtrees) else Subtrees(leaves)


def inclusion_proof(leaves: Sequence[bytes] | Subtrees, index: int, size: int) -> list[bytes]:
    """The audit path of leaf `index` (from 0) in the tree of the first `size` leaves,
    from the leaf upwards (RFC 6962 §2.1.1)."""
    sub = _subtrees(leaves)
    if not 0 <= index < size <= len(leaves):
        raise ValueError(f"no leaf {index} in a tree of {size} (of {len(leaves)} leaves)")
    top_down: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index - lo < k:
            top_down.append(sub.root(lo + k, hi))
            hi = lo + k
        else:
            top_down.append(sub.root(lo, lo + k))
            lo += k
    return top_down[::-1]


def consistency_proof(leaves: Sequence[bytes] | Subtrees, old: int, new: int) -> list[bytes]:
    """The proof that the tree of the first `old` leaves is a prefix of that of the first
    `new` (RFC 6962 §2.1.2); empty when old is 0 or equals new."""
    sub = _subtrees(leaves)
    if not 0 <= old <= new <= len(leaves):
        raise ValueError(f"no consistency proof from {old} to {new} (of {len(leaves)} leaves)")
    if old in (0, new):
        return []
    top_down: list[bytes] = []
    lo, hi, m, whole = 0, new, old, True  # m: the old tree's leaves within [lo, hi)
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            top_down.append(sub.root(lo + k, hi))
            hi = lo + k
        else:
            top_down.append(sub.root(lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        top_down.append(sub.root(lo, hi))
    return top_down[::-1]


def root_from_inclusion_proof(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes | None:
    """The root that `proof` leads to from `leaf` at `index` in a tree of `size`, or None
    if the proof cannot be one for that position (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size or len(leaf) != HASH_SIZE:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0 or len(p) != HASH_SIZE:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """Whether `proof` proves leaf hash `leaf` at `index` in the tree of `size` whose head
    is `root_hash`."""
    got = root_from_inclusion_proof(index, size, leaf, proof)
    return got is not None and got == root_hash


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` proves the tree of size `old` with head `old_root` a prefix of the
    tree of size `new` with head `new_root` (RFC 9162 §2.1.4.2)."""
    if not 0 <= old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof
    if not proof or any(len(p) != HASH_SIZE for p in proof):
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # a complete subtree: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
