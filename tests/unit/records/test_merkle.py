"""The Merkle tree against RFC 6962's published vectors (as certificate-transparency and
transparency-dev/merkle test with), hypothesis properties, and sigstore's independent
inclusion verifier."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sigstore._internal import merkle as sigstore_merkle

from hotline.records.merkle import (
    EMPTY_ROOT,
    Subtrees,
    Tree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]  # fmt: skip
HASHES = [leaf_hash(d) for d in LEAVES]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]  # fmt: skip


def h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


# (leaf index from 0, tree size, audit path): the vectors' leaves are numbered from 1
INCLUSION = [
    (0, 8, h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (5, 8, h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 3, h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (1, 5, h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
    (0, 1, []),
]  # fmt: skip
CONSISTENCY = [
    (1, 1, []),
    (1, 8, h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")),
    (6, 8, h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
    (2, 5, h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")),
    (6, 7, h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")),
]  # fmt: skip


def test_the_empty_tree_is_the_hash_of_nothing():
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_published_vectors(size):
    assert root(HASHES[:size]) == ROOTS[size - 1]


def test_a_tree_grown_leaf_by_leaf_has_each_published_root_on_the_way():
    tree = Tree()
    for size, leaf in enumerate(HASHES, start=1):
        tree.append(leaf)
        assert (tree.size, tree.root()) == (size, ROOTS[size - 1])


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_of_the_published_vectors(index, size, path):
    assert inclusion_proof(HASHES, index, size) == path
    assert verify_inclusion(index, size, HASHES[index], path, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_of_the_published_vectors(old, new, proof):
    assert consistency_proof(HASHES, old, new) == proof
    assert verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION[:4])
def test_corrupted_inclusion_proofs_fail(index, size, path):
    """transparency-dev/merkle's probes: a wrong index, size, leaf or root; garbage before
    or after; a component removed."""
    r, leaf = ROOTS[size - 1], HASHES[index]
    assert not verify_inclusion(index + 1, size, leaf, path, r)
    assert not verify_inclusion(index ^ 2, size, leaf, path, r)
    assert not verify_inclusion(index, size * 2, leaf, path, r)
    assert not verify_inclusion(index, size // 2, leaf, path, r)
    assert not verify_inclusion(index, size, leaf_hash(b"WrongLeaf"), path, r)
    assert not verify_inclusion(index, size, leaf, path, EMPTY_ROOT)
    assert not verify_inclusion(index, size, leaf, [*path, r], r)
    assert not verify_inclusion(index, size, leaf, [r, *path], r)
    assert not verify_inclusion(index, size, leaf, path[:-1], r)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY[1:])
def test_corrupted_consistency_proofs_fail(old, new, proof):
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    assert not verify_consistency(old - 1, new, r1, r2, proof)
    assert not verify_consistency(old + 1, new, r1, r2, proof)
    assert not verify_consistency(old, new * 2, r1, r2, proof)
    assert not verify_consistency(old, new, r2, r1, proof)
    assert not verify_consistency(old, new, r1, r2, [])
    assert not verify_consistency(old, new, r1, r2, [*proof, r1])
    assert not verify_consistency(old, new, r1, r2, [r2, *proof])
    assert not verify_consistency(old, new, r1, r2, proof[:-1])


def test_trivial_consistency_cases_follow_rfc_9162():
    some = hashlib.sha256(b"some").digest()
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, some, [])
    assert not verify_consistency(1, 1, ROOTS[0], ROOTS[0], [EMPTY_ROOT])
    assert not verify_consistency(2, 1, ROOTS[1], ROOTS[0], [])


def _flip(proof: list[bytes], which: int, bit: int) -> list[bytes]:
    node = bytearray(proof[which])
    node[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:which], bytes(node), *proof[which + 1 :]]


leaves_st = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@given(leaves_st, st.data())
def test_every_inclusion_proof_verifies_and_any_flipped_bit_fails(data, draw):
    hashes = [leaf_hash(d) for d in data]
    size = draw.draw(st.integers(1, len(hashes)))
    index = draw.draw(st.integers(0, size - 1))
    r = root(hashes[:size])
    proof = inclusion_proof(hashes, index, size)
    assert verify_inclusion(index, size, hashes[index], proof, r)
    bit = draw.draw(st.integers(0, 255))
    if proof:
        which = draw.draw(st.integers(0, len(proof) - 1))
        assert not verify_inclusion(index, size, hashes[index], _flip(proof, which, bit), r)
    assert not verify_inclusion(index, size, _flip([hashes[index]], 0, bit)[0], proof, r)
    assert not verify_inclusion(index, size, hashes[index], proof, _flip([r], 0, bit)[0])


@given(leaves_st, st.data())
def test_every_consistency_proof_verifies_and_any_flipped_bit_fails(data, draw):
    hashes = [leaf_hash(d) for d in data]
    new = draw.draw(st.integers(1, len(hashes)))
    old = draw.draw(st.integers(1, new))
    r1, r2 = root(hashes[:old]), root(hashes[:new])
    proof = consistency_proof(hashes, old, new)
    assert verify_consistency(old, new, r1, r2, proof)
    bit = draw.draw(st.integers(0, 255))
    if proof:
        which = draw.draw(st.integers(0, len(proof) - 1))
        assert not verify_consistency(old, new, r1, r2, _flip(proof, which, bit))
        assert not verify_consistency(old, new, _flip([r1], 0, bit)[0], r2, proof)
    assert not verify_consistency(old, new, r1, _flip([r2], 0, bit)[0], proof)


def _sigstore_root(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """The root sigstore's verifier (trillian's algorithm, written independently of ours)
    chains `proof` to."""
    inner, border = sigstore_merkle._decomp_inclusion_proof(index, size)
    assert len(proof) == inner + border
    seed = sigstore_merkle._chain_inner(leaf, proof[:inner], index)
    return sigstore_merkle._chain_border_right(seed, proof[inner:])


@given(st.lists(st.binary(max_size=8), min_size=1, max_size=300), st.data())
def test_sigstores_verifier_agrees_with_our_proofs_and_roots(data, draw):
    hashes = [sigstore_merkle._hash_leaf(d) for d in data]
    assert hashes == [leaf_hash(d) for d in data]
    size = draw.draw(st.integers(1, len(hashes)))
    index = draw.draw(st.integers(0, size - 1))
    proof = inclusion_proof(hashes, index, size)
    assert _sigstore_root(index, size, hashes[index], proof) == root(hashes[:size])
    assert root_from_inclusion_proof(index, size, hashes[index], proof) == root(hashes[:size])


def test_a_million_leaves_in_one_pass():
    """One pass over a million leaf hashes equals the RFC's definition one level down: the
    node over the roots of the first 2^19 leaves and of the rest."""
    hashes = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(1_000_000)]
    k = 1 << 19
    left, right = Tree(), Tree()
    left.extend(hashes[:k])
    right.extend(hashes[k:])
    assert root(hashes) == node_hash(left.root(), right.root())


class SmallMemo(Subtrees):
    MEMO = 2  # remember subtrees from 2 leaves up, so small trees use the memory too


@given(st.lists(st.binary(max_size=4), min_size=1, max_size=80), st.data())
def test_proofs_from_remembered_subtrees_are_the_same_proofs(data, draw):
    hashes = [leaf_hash(d) for d in data]
    remembered = SmallMemo(hashes)
    for _ in range(5):  # several proofs over the same memory
        new = draw.draw(st.integers(1, len(hashes)))
        old = draw.draw(st.integers(1, new))
        index = draw.draw(st.integers(0, new - 1))
        assert consistency_proof(remembered, old, new) == consistency_proof(hashes, old, new)
        assert inclusion_proof(remembered, index, new) == inclusion_proof(hashes, index, new)
        proof = consistency_proof(remembered, old, new)
        assert verify_consistency(old, new, root(hashes[:old]), root(hashes[:new]), proof)
