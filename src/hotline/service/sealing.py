"""The key that seals the accounts' TOTP secrets at rest (`HOTLINE_SECRET_KEY`): its
format, how to make one, and sealing and opening a secret with it.

A key is 32 random bytes in base64, urlsafe or standard (44 characters): `hotline
secret-key` prints a new one, as does `openssl rand -base64 32`. A secret is sealed with
AES-256-GCM, the user name as associated data (a sealed secret copied into another user's
row does not open), and stored as `v1:<key id>:<nonce + ciphertext, urlsafe base64>`. The
key id (8 hex digits of an HMAC of the key: it tells nothing of the key) says which key
sealed a secret, so a wrong key is named as such, and a later key rotation can tell old
rows from new. A stored secret without the prefix is a base32 secret in clear, from before
secrets were sealed (`is_sealed`: base32 has no ':')."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hotline.errors import SealedSecretUnreadable

VARIABLE = "HOTLINE_SECRET_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12
VERSION = "v1"
HOW_TO_MAKE = (
    f"make one with `hotline secret-key` (32 random bytes in urlsafe base64) and set "
    f"{VARIABLE} to it in the environment of `hotline serve` and of every `hotline user` "
    "command; keep it as safe as the database's password"
)
MISSING = (
    f"{VARIABLE} is not set: it seals the accounts' TOTP secrets in the database "
    f"(fix: {HOW_TO_MAKE})"
)
MALFORMED = f"is not a key of 32 bytes in base64 (fix: {HOW_TO_MAKE})"


def new_key() -> str:
    """A new key, as `HOTLINE_SECRET_KEY` takes it."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def is_sealed(stored: str) -> bool:
    """Whether a stored secret is sealed (else it is base32 in clear, from before)."""
    return ":" in stored


class SealingKey:
    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEY_BYTES:
            raise ValueError(MALFORMED)
        self._aead = AESGCM(raw)
        self.key_id = hmac.new(raw, b"hotline sealing key id", hashlib.sha256).hexdigest()[:8]

    @classmethod
    def parse(cls, text: str) -> SealingKey:
        """The key `text` writes; ValueError (never quoting `text`) if it writes none."""
        try:
            clean = text.strip().replace("-", "+").replace("_", "/")  # urlsafe or standard
            raw = base64.b64decode(clean, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(MALFORMED) from None
        return cls(raw)

    def __repr__(self) -> str:  # never the key itself
        return f"SealingKey(key_id={self.key_id!r})"

    def _header(self) -> str:
        return f"{VERSION}:{self.key_id}"

    def seal(self, secret: str, *, username: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        header = self._header()
        sealed = self._aead.encrypt(nonce, secret.encode(), _bound(header, username))
        return f"{header}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, stored: str, *, username: str) -> str:
        """The secret sealed in `stored` for `username`, or `SealedSecretUnreadable` saying
        why (another key; a row changed or copied from another user's; an unknown format),
        with no part of the secret or the key."""
        version, _, rest = stored.partition(":")
        key_id, _, body = rest.partition(":")
        if version != VERSION:
            raise SealedSecretUnreadable(
                f"its TOTP secret is sealed in a format this version of Hotline does not "
                f"know ({version[:8]!r}): run the version of Hotline that sealed it"
            )
        if not hmac.compare_digest(key_id, self.key_id):
            raise SealedSecretUnreadable(
                f"its TOTP secret was sealed under another key (key id {key_id[:8]!r}; "
                f"{VARIABLE} has key id {self.key_id!r}): set {VARIABLE} to the key it was "
                "sealed with, or give the account a new secret with `hotline user reset`"
            )
        try:
            blob = base64.urlsafe_b64decode(body.encode())
            bound = _bound(f"{version}:{key_id}", username)
            clear = self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], bound)
        except (binascii.Error, ValueError, InvalidTag):
            raise SealedSecretUnreadable(
                f"its TOTP secret does not open with {VARIABLE} although the key ids match "
                "(the row was changed, or copied from another user's): give the account a "
                "new secret with `hotline user reset`"
            ) from None
        return clear.decode()


def _bound(header: str, username: str) -> bytes:
    """The associated data: the format, the key id and the user the secret belongs to."""
    return f"{header}\0{username}".encode()
