"""Signed checkpoints of the audit trail, in the C2SP formats: a tlog-checkpoint body
signed as a signed-note with Ed25519 (https://c2sp.org/tlog-checkpoint,
https://c2sp.org/signed-note; the Go reference is golang.org/x/mod/sumdb/note).

A checkpoint's body is the origin line, the tree size in decimal, the root hash in base64,
then extension lines; ours carry `time <UTC, ISO 8601, centiseconds>`, so a checkpoint
also proves when nothing more had been logged. A signed note is the body, a blank line and
one line per signature, `— <name> <base64(4-byte key hash || signature)>`. Keys:

    verifier  <name>+<8 hex key hash>+<base64(0x01 || Ed25519 public key)>
    private   PRIVATE+KEY+<name>+<8 hex key hash>+<base64(0x01 || Ed25519 seed)>

the key hash being the first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key).
Signatures by keys we do not know are kept as unverified and otherwise ignored, so
witnesses can add their cosignatures to a checkpoint."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hotline.errors import AuditKeyInvalid, NoteInvalid

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100  # as the Go reference: parsing a note stays cheap
TIME_EXTENSION = "time "
HOW_TO_MAKE = (
    "make a key pair with `hotline audit keygen --name NAME` (NAME: the log's identity, "
    "e.g. hotline.example.org/audit)"
)


def valid_name(name: str) -> bool:
    """A key name: not empty, no space of any kind, no '+'."""
    return bool(name) and not any(c.isspace() for c in name) and "+" not in name


def key_hash(name: str, public: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True, slots=True)
class Verifier:
    name: str
    key_hash: int
    public: bytes

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """A verifier key `name+hash+key`; AuditKeyInvalid (not quoting it) otherwise."""
        bad = AuditKeyInvalid(
            "the verifier key is malformed: it is <name>+<8 hex digits>+<base64 key>, as "
            f"`hotline audit keygen` prints it (fix: copy it whole, or {HOW_TO_MAKE})"
        )
        parts = text.strip().split("+", 2)  # base64 may hold '+'
        if (
            len(parts) != 3
            or not valid_name(parts[0])
            or not re.fullmatch(r"[0-9a-f]{8}", parts[1])
        ):
            raise bad
        try:
            raw = _b64decode(parts[2])
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise bad from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise bad
        v = cls(parts[0], int(parts[1], 16), raw[1:])
        if key_hash(v.name, v.public) != v.key_hash:
            raise bad
        return v

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public).decode()
        return f"{self.name}+{self.key_hash:08x}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Signer:
    """A private key; its repr never shows the key."""

    __slots__ = ("_key", "name", "verifier")

    def __init__(self, name: str, seed: bytes) -> None:
        if not valid_name(name) or len(seed) != 32:
            raise AuditKeyInvalid(f"not an Ed25519 key with a valid name (fix: {HOW_TO_MAKE})")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes_raw()
        self.name = name
        self.verifier = Verifier(name, key_hash(name, public), public)

    @classmethod
    def generate(cls, name: str) -> Signer:
        if not valid_name(name):
            raise AuditKeyInvalid(
                "a key's name may not be empty nor hold a space or '+' (e.g. "
                "hotline.example.org/audit)"
            )
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def parse(cls, text: str, *, variable: str = "HOTLINE_AUDIT_KEY") -> Signer:
        """The key `PRIVATE+KEY+name+hash+key`; AuditKeyInvalid (not quoting it) otherwise."""
        bad = AuditKeyInvalid(
            f"{variable} is not a private key of the form PRIVATE+KEY+<name>+<8 hex "
            f"digits>+<base64 key> (fix: {HOW_TO_MAKE} and set {variable} to the first line "
            "it prints)"
        )
        parts = text.strip().split("+", 4)  # base64 may hold '+'
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not valid_name(parts[2]):
            raise bad
        if not re.fullmatch(r"[0-9a-f]{8}", parts[3]):
            raise bad
        try:
            raw = _b64decode(parts[4])
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise bad from None
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise bad
        signer = cls(parts[2], raw[1:])
        if signer.verifier.key_hash != int(parts[3], 16):
            raise bad
        return signer

    def private_key(self) -> str:
        """The key as HOTLINE_AUDIT_KEY takes it (a secret: print it only when asked)."""
        seed = base64.b64encode(bytes([ALG_ED25519]) + self._key.private_bytes_raw()).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_hash:08x}+{seed}"

    def __repr__(self) -> str:
        return f"Signer({self.verifier})"

    def signature_line(self, text: str) -> str:
        sig = self._key.sign(text.encode())
        blob = self.verifier.key_hash.to_bytes(4, "big") + sig
        return f"— {self.name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    key_hash: int
    base64: str


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    signatures: tuple[Signature, ...]  # verified by a key given
    unverified: tuple[Signature, ...]  # by keys not given (witnesses, say)


def sign_note(text: str, *signers: Signer) -> str:
    if not text.endswith("\n") or not _well_formed(text):
        raise NoteInvalid("a note's text is UTF-8 without control characters, ending in \\n")
    return text + "\n" + "".join(s.signature_line(text) for s in signers)


def _well_formed(text: str) -> bool:
    return not any(ord(c) < 0x20 and c != "\n" for c in text)


def open_note(message: str, verifiers: Sequence[Verifier]) -> Note:
    """The note in `message`, with the signatures of `verifiers` checked, by the rules of
    golang.org/x/mod/sumdb/note's Open: a malformed note, a bad signature by a known key,
    or no signature by a known key is NoteInvalid."""
    if not _well_formed(message):
        raise NoteInvalid("malformed note: a control character")
    split = message.rfind("\n\n")
    if split < 0:
        raise NoteInvalid("malformed note: no blank line before the signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NoteInvalid("malformed note: no signature, or no final newline")
    known: dict[tuple[str, int], list[Verifier]] = {}
    for v in verifiers:
        known.setdefault((v.name, v.key_hash), []).append(v)
    verified: list[Signature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteInvalid(f"malformed note: more than {MAX_SIGNATURES} signatures")
    for line in lines:
        if not line.startswith("— "):
            raise NoteInvalid("malformed note: a line after the blank line is no signature")
        name, _, b64 = line[2:].partition(" ")
        try:
            blob = _b64decode(b64)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise NoteInvalid("malformed note: a signature is not base64") from None
        if not valid_name(name) or not b64 or len(blob) < 5:
            raise NoteInvalid("malformed note: a signature line is malformed")
        sig = Signature(name, int.from_bytes(blob[:4], "big"), b64)
        candidates = known.get((name, sig.key_hash))
        if candidates is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if len(candidates) > 1:
            raise NoteInvalid(f"ambiguous key {name}+{sig.key_hash:08x}")
        if (name, sig.key_hash) in seen:
            continue
        seen.add((name, sig.key_hash))
        if not candidates[0].verify(text.encode(), blob[4:]):
            raise NoteInvalid(f"invalid signature for key {name}+{sig.key_hash:08x}")
        verified.append(sig)
    if not verified:
        raise NoteInvalid("the note has no signature by the verifier key given")
    return Note(text, tuple(verified), tuple(unverified))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @property
    def time(self) -> datetime | None:
        """The time the checkpoint says it was made, if it says."""
        for line in self.extensions:
            if line.startswith(TIME_EXTENSION):
                try:
                    return datetime.fromisoformat(line.removeprefix(TIME_EXTENSION))
                except ValueError:
                    return None
        return None

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        if not body.endswith("\n"):
            raise NoteInvalid("malformed checkpoint: no final newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3 or not lines[0] or any(not line for line in lines[3:]):
            raise NoteInvalid("malformed checkpoint: an origin, a size and a root hash first")
        if not re.fullmatch(r"0|[1-9][0-9]{0,19}", lines[1]):
            raise NoteInvalid("malformed checkpoint: the size is not a decimal number")
        try:
            root_hash = _b64decode(lines[2])
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise NoteInvalid("malformed checkpoint: the root hash is not base64") from None
        if len(root_hash) != 32:
            raise NoteInvalid("malformed checkpoint: the root hash is not 32 bytes")
        return cls(lines[0], int(lines[1]), root_hash, tuple(lines[3:]))


def time_extension(at: datetime) -> str:
    """`time 2026-12-05T10:00:00.25Z`: UTC to the centisecond."""
    at = at.astimezone(UTC)
    return f"{TIME_EXTENSION}{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 10_000:02d}Z"


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    if checkpoint.origin != signer.name:
        raise NoteInvalid("a checkpoint's origin is the name of the key that signs it")
    return sign_note(checkpoint.body(), signer)


def open_checkpoint(message: str, verifier: Verifier) -> Checkpoint:
    """The checkpoint in a signed note, if `verifier` signed it and its origin is the
    verifier's name (NoteInvalid otherwise)."""
    note = open_note(message, [verifier])
    checkpoint = Checkpoint.parse(note.text)
    if checkpoint.origin != verifier.name:
        raise NoteInvalid(
            f"the checkpoint's origin {checkpoint.origin[:80]!r} is not the key's name "
            f"{verifier.name!r}"
        )
    return checkpoint
