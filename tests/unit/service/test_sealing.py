"""Sealing a TOTP secret: AES-256-GCM bound to its user, a version and key id in front, a
key of 32 bytes in urlsafe base64, and refusals that name the cause and no secret."""

from __future__ import annotations

import base64

import pytest

from hotline.errors import SealedSecretUnreadable
from hotline.service.sealing import SealingKey, is_sealed, new_key

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # base32, as accounts make them


def test_a_sealed_secret_opens_for_its_user_only_and_shows_nothing_of_it():
    key = SealingKey.parse(new_key())
    sealed = key.seal(SECRET, username="ana")
    assert sealed.startswith(f"v1:{key.key_id}:")
    assert SECRET not in sealed
    assert is_sealed(sealed)
    assert not is_sealed(SECRET)
    assert key.open(sealed, username="ana") == SECRET
    assert key.seal(SECRET, username="ana") != sealed  # a new nonce each time
    with pytest.raises(SealedSecretUnreadable, match="copied from another user"):
        key.open(sealed, username="ben")


def test_another_key_is_named_by_its_id_and_neither_key_is_shown():
    text_a, text_b = new_key(), new_key()
    a, b = SealingKey.parse(text_a), SealingKey.parse(text_b)
    sealed = a.seal(SECRET, username="ana")
    with pytest.raises(SealedSecretUnreadable) as e:
        b.open(sealed, username="ana")
    assert "another key" in e.value.message
    assert a.key_id in e.value.message
    assert b.key_id in e.value.message
    for shown in (e.value.message, repr(a), repr(b)):
        assert text_a not in shown
        assert text_b not in shown
        assert SECRET not in shown


def test_a_changed_row_or_an_unknown_format_is_refused():
    key = SealingKey.parse(new_key())
    sealed = key.seal(SECRET, username="ana")
    head, body = sealed.rsplit(":", 1)
    blob = bytearray(base64.urlsafe_b64decode(body))
    blob[-1] ^= 1
    changed = f"{head}:{base64.urlsafe_b64encode(bytes(blob)).decode()}"
    with pytest.raises(SealedSecretUnreadable, match="the row was changed"):
        key.open(changed, username="ana")
    with pytest.raises(SealedSecretUnreadable, match="the row was changed"):
        key.open(f"{head}:not base64!", username="ana")
    with pytest.raises(SealedSecretUnreadable, match="format this version"):
        key.open("v9" + sealed[2:], username="ana")


@pytest.mark.parametrize(
    "text",
    ["", "   ", "short", base64.urlsafe_b64encode(b"x" * 31).decode(),
     base64.urlsafe_b64encode(b"x" * 33).decode(), "!" * 43 + "="],
)  # fmt: skip
def test_a_malformed_key_is_refused_without_quoting_it(text):
    with pytest.raises(ValueError, match="32 bytes in base64") as e:
        SealingKey.parse(text)
    message = str(e.value)
    assert "32 bytes in base64" in message
    assert "hotline secret-key" in message
    assert not text.strip() or text.strip() not in message


def test_a_new_key_is_32_random_bytes_and_parses_with_spaces_around():
    text = new_key()
    assert len(base64.urlsafe_b64decode(text)) == 32
    assert text != new_key()
    assert SealingKey.parse(f" {text}\n").key_id == SealingKey.parse(text).key_id


def test_a_key_in_standard_base64_is_the_same_key():
    raw = bytes(range(200, 232))  # encodes with + and / in standard base64
    standard, urlsafe = base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()
    assert standard != urlsafe
    assert SealingKey.parse(standard).key_id == SealingKey.parse(urlsafe).key_id
