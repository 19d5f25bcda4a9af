"""Signed notes and checkpoints in the C2SP formats, against the Go reference's vectors
(golang.org/x/mod/sumdb/note's tests) and sigstore's checkpoint parser."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sigstore._internal.rekor.checkpoint import SignedCheckpoint

from hotline.errors import AuditKeyInvalid, NoteInvalid
from hotline.records.checkpoint import (
    Checkpoint,
    Signer,
    Verifier,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
    time_extension,
)
from hotline.records.merkle import EMPTY_ROOT

# the Go reference's test key pair and signatures (golang.org/x/mod/sumdb/note)
PETER_PRIVATE = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdn"
    "gotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnW"
    "Lox33WWd1RvMc+QQ=\n"
)


def test_the_go_reference_key_parses_to_its_verifier_and_signs_as_it_does():
    signer = Signer.parse(PETER_PRIVATE)
    assert str(signer.verifier) == PETER
    assert signer.private_key() == PETER_PRIVATE
    assert sign_note(TEXT, signer) == TEXT + "\n" + PETER_SIG


def test_a_note_signed_by_the_go_reference_opens_and_unknown_signatures_are_kept_aside():
    note = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [Verifier.parse(PETER)])
    assert note.text == TEXT
    assert [(s.name, s.key_hash) for s in note.signatures] == [("PeterNeumann", 0xC74F20A3)]
    assert [(s.name, s.key_hash) for s in note.unverified] == [("EnochRoot", 0xAF0CFE78)]
    both = open_note(
        TEXT + "\n" + PETER_SIG + ENOCH_SIG, [Verifier.parse(p) for p in (PETER, ENOCH)]
    )
    assert [s.name for s in both.signatures] == ["PeterNeumann", "EnochRoot"]


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (TEXT + "\n" + ENOCH_SIG, "no signature by the verifier key"),
        (TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:], "invalid signature"),
        (TEXT, "no blank line"),
        (TEXT + "\n", "no signature"),
        (TEXT + "\n" + PETER_SIG[:-1], "no final newline"),
        ("\x01" + TEXT + "\n" + PETER_SIG, "control character"),
        (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"), "malformed"),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n", "no signature"),
        (TEXT + "\n" + PETER_SIG * 101, "more than 100"),
    ],
)  # fmt: skip
def test_notes_the_go_reference_refuses_are_refused(message, why):
    with pytest.raises(NoteInvalid, match=why):
        open_note(message, [Verifier.parse(PETER)])


def test_a_duplicated_verifier_is_ambiguous():
    v = Verifier.parse(ENOCH)
    with pytest.raises(NoteInvalid, match=r"ambiguous key EnochRoot\+af0cfe78"):
        open_note(TEXT + "\n" + ENOCH_SIG, [v, Verifier.parse(PETER), v])


def test_every_mangled_verifier_key_is_refused_without_being_quoted():
    b = PETER.encode()
    for i in range(len(b)):
        mangled = (b[:i] + bytes([b[i] + 1]) + b[i + 1 :]).decode()
        with pytest.raises(AuditKeyInvalid) as e:
            Verifier.parse(mangled)
        assert mangled not in e.value.message
    for cut in (PETER[:-1], PETER[1:], PETER.rsplit("+", 1)[0]):
        with pytest.raises(AuditKeyInvalid):
            Verifier.parse(cut)


def test_every_mangled_private_key_is_refused_without_being_quoted():
    b = PETER_PRIVATE.encode()
    for i in range(len(b)):
        mangled = (b[:i] + bytes([b[i] + 1]) + b[i + 1 :]).decode()
        with pytest.raises(AuditKeyInvalid) as e:
            Signer.parse(mangled)
        assert mangled.rsplit("+", 1)[1] not in e.value.message
        assert "hotline audit keygen" in e.value.message


def test_a_signers_repr_shows_only_its_verifier_key():
    signer = Signer.parse(PETER_PRIVATE)
    assert repr(signer) == f"Signer({PETER})"


def _checkpoint(size: int = 7, root: bytes = EMPTY_ROOT) -> Checkpoint:
    at = datetime(2026, 12, 5, 10, 0, 0, 257_000, tzinfo=UTC)
    return Checkpoint("hotline.example.org/audit", size, root, (time_extension(at),))


def test_a_checkpoint_round_trips_and_says_when_it_was_made():
    signer = Signer.generate("hotline.example.org/audit")
    note = sign_checkpoint(_checkpoint(), signer)
    assert note.startswith(
        "hotline.example.org/audit\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
        "time 2026-12-05T10:00:00.25Z\n\n— hotline.example.org/audit "
    )
    got = open_checkpoint(note, signer.verifier)
    assert got == _checkpoint()
    assert got.time == datetime(2026, 12, 5, 10, 0, 0, 250_000, tzinfo=UTC)


def test_sigstores_parser_reads_our_checkpoint_and_its_signature_checks():
    signer = Signer.generate("hotline.example.org/audit")
    note = sign_checkpoint(_checkpoint(42, bytes(range(32))), signer)
    theirs = SignedCheckpoint.from_text(note)
    assert theirs.checkpoint.origin == "hotline.example.org/audit"
    assert theirs.checkpoint.log_size == 42
    assert theirs.checkpoint.log_hash == bytes(range(32)).hex()
    assert theirs.checkpoint.other_content == ["time 2026-12-05T10:00:00.25Z"]
    (sig,) = theirs.signed_note.signatures
    assert sig.sig_hash == signer.verifier.key_hash.to_bytes(4, "big")
    assert signer.verifier.verify(theirs.signed_note.note.encode(), base64.b64decode(sig.signature))


def test_a_checkpoint_by_another_key_of_the_same_name_is_refused():
    mine, theirs = (Signer.generate("hotline.example.org/audit") for _ in range(2))
    with pytest.raises(NoteInvalid, match="no signature by the verifier key"):
        open_checkpoint(sign_checkpoint(_checkpoint(), theirs), mine.verifier)


@given(st.data())
def test_any_changed_byte_of_a_signed_checkpoint_fails(data):
    signer = Signer.parse(PETER_PRIVATE)
    cp = Checkpoint("PeterNeumann", 1234, bytes(range(32)), ("time 2026-12-05T10:00:00.00Z",))
    note = sign_checkpoint(cp, signer).encode()
    i = data.draw(st.integers(0, len(note) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != note[i]))
    changed = note[:i] + bytes([new]) + note[i + 1 :]
    try:
        text = changed.decode()
    except UnicodeDecodeError:
        return  # not even text: a reader of the note refuses it before any check
    with pytest.raises(NoteInvalid):
        open_checkpoint(text, signer.verifier)


def test_malformed_checkpoint_bodies_are_refused():
    for body in ("origin\n7\n", "origin\n07\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
                 "origin\n7\nAAAA\n", "\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
                 "origin\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n"):  # fmt: skip
        with pytest.raises(NoteInvalid, match="malformed checkpoint"):
            Checkpoint.parse(body)
