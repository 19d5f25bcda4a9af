"""The key that seals the accounts' TOTP secrets at rest (`HOTLINE_SECRET_KEY`): its
format, how to make one, and sealing and opening a secret with it.

A key is 32 random bytes in base64, urlsafe or standard (44 characters): `hotline
secret-key` prints a new one, as does `openssl rand -base64 32`. A secret is sealed with
AES-256-GCM, the user name as associated data (a sealed secret copied into another user's
row does not open), and stored as `v1:<key id>:<nonce + ciphertext, urlsafe base64>`. The
key id (8 hex digits of an HMAC of the key: it tells nothing of the key) says which key
sealed a secret, so a wrong key is named as such, and a later key rotation can tell old
rows from new. A stored secret without the prefix is a base32 secret in clear, from before
secrets were sealed (`is_sealed`: base32 has no ':').

The same key seals the store's sensitive JSON values (a call's attributes, the data of
events that carry free text: `store.repository`), each bound to its column and row by the
associated data, kept as `{"sealed": "v1:<key id>:..."}`. A `Keyring` is the current key
(it seals) and the previous ones (`HOTLINE_PREVIOUS_SECRET_KEYS`: they still open what
they sealed, until `hotline rekey` has sealed it again under the current key)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hotline.errors import SealedSecretUnreadable, SealedValueUnreadable

VARIABLE = "HOTLINE_SECRET_KEY"
PREVIOUS_VARIABLE = "HOTLINE_PREVIOUS_SECRET_KEYS"
SEALED = "sealed"  # the one key of a sealed JSON value: {"sealed": "v1:<key id>:..."}
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
        return self._seal(secret.encode(), username)

    def open(self, stored: str, *, username: str) -> str:
        """The secret sealed in `stored` for `username`, or `SealedSecretUnreadable` saying
        why (another key; a row changed or copied from another user's; an unknown format),
        with no part of the secret or the key."""
        version, key_id, _ = _parts(stored)
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
        clear = self._open(stored, username)
        if clear is None:
            raise SealedSecretUnreadable(
                f"its TOTP secret does not open with {VARIABLE} although the key ids match "
                "(the row was changed, or copied from another user's): give the account a "
                "new secret with `hotline user reset`"
            )
        return clear.decode()

    def _seal(self, clear: bytes, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        header = self._header()
        sealed = self._aead.encrypt(nonce, clear, _bound(header, context))
        return f"{header}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def _open(self, stored: str, context: str) -> bytes | None:
        """The clear bytes, or None if `stored` does not open (changed, or bound to
        another row); the caller has checked the version and the key id."""
        version, key_id, body = _parts(stored)
        try:
            blob = base64.urlsafe_b64decode(body.encode())
            bound = _bound(f"{version}:{key_id}", context)
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], bound)
        except (binascii.Error, ValueError, InvalidTag):
            return None


class Keyring:
    """The current key, which seals, and the previous ones, which still open what they
    sealed (a key rotation: `hotline rekey` seals it all again under the current key).
    Opens TOTP secrets as a `SealingKey` does, whichever of its keys sealed them."""

    def __init__(self, current: SealingKey, previous: Sequence[SealingKey] = ()) -> None:
        self.current = current
        self._keys = {k.key_id: k for k in previous} | {current.key_id: current}

    @property
    def key_id(self) -> str:
        return self.current.key_id

    def __repr__(self) -> str:  # never the keys themselves
        return f"Keyring(current={self.key_id!r}, keys={sorted(self._keys)!r})"

    def seal(self, secret: str, *, username: str) -> str:
        return self.current.seal(secret, username=username)

    def open(self, stored: str, *, username: str) -> str:
        _, key_id, _ = _parts(stored)
        return self._keys.get(key_id, self.current).open(stored, username=username)

    def is_current(self, stored: str) -> bool:
        """Whether `stored` (a sealed secret or value's text) is sealed under the current
        key (else a rotation seals it again)."""
        return sealed_key_id(stored) == self.key_id

    # -- the store's sensitive JSON values

    def seal_value(self, value: Any, *, column: str, row: str) -> dict[str, str]:
        """`value` (JSON) sealed for one column of one row: `{"sealed": "v1:..."}`."""
        clear = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
        return {SEALED: self.current._seal(clear, _value_context(column, row))}

    def open_value(self, stored: Any, *, column: str, row: str) -> Any:
        """The JSON value `stored` holds: opened if sealed, as it is if it was written in
        clear before values were sealed (`is_sealed_value`). `SealedValueUnreadable` (naming
        the column, the row and the key id, never the key nor the value) if it does not."""
        if not is_sealed_value(stored):
            return stored
        text = stored[SEALED]
        version, key_id, _ = _parts(text)
        where = f"{column} of {row[:80]!r}"
        if version != VERSION:
            raise SealedValueUnreadable(
                f"{where} is sealed in a format this version of Hotline does not know "
                f"({version[:8]!r}): run the version of Hotline that sealed it"
            )
        key = self._keys.get(key_id)
        if key is None:
            raise SealedValueUnreadable(
                f"{where} was sealed under a key that is not given (key id {key_id[:8]!r}; "
                f"given: {', '.join(sorted(self._keys))}): add the key it was sealed with "
                f"to {PREVIOUS_VARIABLE}"
            )
        clear = key._open(text, _value_context(column, row))
        if clear is None:
            raise SealedValueUnreadable(
                f"{where} does not open with key {key_id!r} although the key ids match (the "
                "row was changed, or the value copied from another row)"
            )
        return json.loads(clear)


def open_without_key(stored: Any, *, column: str, row: str) -> Any:
    """What a store without a key reads: a value written in clear, or a clear error."""
    if not is_sealed_value(stored):
        return stored
    _, key_id, _ = _parts(stored[SEALED])
    raise SealedValueUnreadable(
        f"{column} of {row[:80]!r} is sealed (key id {key_id[:8]!r}) and no key is given: "
        f"set {VARIABLE}"
    )


def is_sealed_value(stored: Any) -> bool:
    """Whether a JSON column's value is sealed (else it was written in clear, before)."""
    return isinstance(stored, dict) and len(stored) == 1 and isinstance(stored.get(SEALED), str)


def parse_previous(text: str) -> list[SealingKey]:
    """The keys `HOTLINE_PREVIOUS_SECRET_KEYS` writes: a JSON list of keys, or keys
    separated by commas; ValueError (never quoting a key) if one is not a key."""
    text = text.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            raise ValueError("is not a JSON list of keys (nor keys separated by commas)") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError("is not a JSON list of keys (nor keys separated by commas)")
    else:
        items = text.split(",")
    keys = []
    for n, item in enumerate(items, 1):
        if item.strip():
            try:
                keys.append(SealingKey.parse(item))
            except ValueError:
                raise ValueError(f"key {n} {MALFORMED}") from None
    return keys


def sealed_key_id(stored: str) -> str:
    """The id of the key that sealed `stored` (a sealed secret or value's text)."""
    return _parts(stored)[1]


def _parts(stored: str) -> tuple[str, str, str]:
    version, _, rest = stored.partition(":")
    key_id, _, body = rest.partition(":")
    return version, key_id, body


def _value_context(column: str, row: str) -> str:
    """A JSON value's binding: the column and row it was sealed for (the NUL bytes keep it
    apart from a TOTP secret's, a user name)."""
    return f"\0value\0{column}\0{row}"


def _bound(header: str, context: str) -> bytes:
    """The associated data: the format, the key id and what the value belongs to (a TOTP
    secret: its user)."""
    return f"{header}\0{context}".encode()
