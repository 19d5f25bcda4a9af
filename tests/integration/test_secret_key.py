"""HOTLINE_SECRET_KEY as an operator meets it: `hotline secret-key` makes one, `hotline
user` commands and `hotline serve` refuse to go on without it (naming it, never echoing a
value), and a log-on over HTTP whose secret does not open is a 401, never a 500."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from hotline.service.accounts import Accounts, totp_code
from hotline.service.sealing import SealingKey, new_key
from hotline.store.accounts import AccountStore

from .live_fixtures import Live, sqlite_url
from .test_cli import ROOT

PASSWORD = "correct horse battery staple"


def hotline(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")} | env
    return subprocess.run(
        [sys.executable, "-c", "from hotline.cli import main; main()", *args],
        capture_output=True, text=True, cwd=ROOT, env=full, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def stored_secrets(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as c:
        return dict(c.execute("SELECT username, totp_secret FROM users"))


# -- the CLI


def test_secret_key_prints_a_new_key_each_time():
    first, second = hotline("secret-key", env={}), hotline("secret-key", env={})
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert first.stdout == key + "\n"
    assert len(key) == 44
    SealingKey.parse(key)
    assert second.stdout.strip() != key


def test_user_add_seals_the_secret_with_the_key_and_refuses_without_it(tmp_path):
    db = tmp_path / "line.sqlite3"
    url = {"HOTLINE_DATABASE_URL": f"sqlite:///{db}"}
    p = hotline("user", "add", "ana", "--role", "supervisor", env=url)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "HOTLINE_SECRET_KEY is not set" in p.stderr
    assert "hotline secret-key" in p.stderr
    assert "Traceback" not in p.stderr
    assert "ana" not in stored_secrets(db)

    key = new_key()
    env = {**url, "HOTLINE_SECRET_KEY": key}
    p = hotline("user", "add", "ana", "--role", "supervisor", env=env)
    assert p.returncode == 0, p.stderr
    secret = p.stdout.split("TOTP secret:")[1].split()[0]
    stored = stored_secrets(db)["ana"]
    assert stored.startswith(f"v1:{SealingKey.parse(key).key_id}:")
    assert secret not in stored
    assert key not in p.stdout + p.stderr


@pytest.mark.parametrize("bad", ["oops-this-is-no-key", "", "A" * 40])  # (A*40: 30 bytes)
def test_a_malformed_key_is_named_with_its_fix_and_never_echoed(bad, tmp_path):
    env = {"HOTLINE_DATABASE_URL": sqlite_url(tmp_path), "HOTLINE_SECRET_KEY": bad}
    p = hotline("user", "list", env=env)
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert "HOTLINE_SECRET_KEY is not a key of 32 bytes in base64" in p.stderr
    assert "hotline secret-key" in p.stderr
    assert not bad or bad not in out
    assert "Traceback" not in out


def test_serve_refuses_to_start_without_the_key(tmp_path):
    db = tmp_path / "x.sqlite3"
    env = {"HOTLINE_TWILIO_AUTH_TOKEN": "serve-test-token",
           "HOTLINE_DATABASE_URL": f"sqlite:///{db}"}  # fmt: skip
    p = hotline("serve", env=env)
    assert p.returncode == 2, p.stderr
    assert "HOTLINE_SECRET_KEY is not set" in p.stderr
    assert "hotline secret-key" in p.stderr
    assert not db.exists()  # refused before anything was touched


def test_user_rekey_seals_the_secrets_kept_in_clear(tmp_path):
    db = tmp_path / "line.sqlite3"
    env = {"HOTLINE_DATABASE_URL": f"sqlite:///{db}", "HOTLINE_SECRET_KEY": new_key()}
    for name in ("ana", "ben"):
        p = hotline("user", "add", name, "--role", "supervisor", env=env)
        assert p.returncode == 0, p.stderr
    with sqlite3.connect(db) as c:  # ana's row as it was before secrets were sealed
        c.execute("UPDATE users SET totp_secret = 'JBSWY3DPEHPK3PXP' WHERE username = 'ana'")
    p = hotline("user", "rekey", env=env)
    assert p.returncode == 0, p.stderr
    assert "now sealed: 1" in p.stderr
    assert stored_secrets(db)["ana"].startswith("v1:")
    p = hotline("user", "rekey", env={"HOTLINE_DATABASE_URL": env["HOTLINE_DATABASE_URL"]})
    assert p.returncode == 2
    assert "HOTLINE_SECRET_KEY is not set" in p.stderr


# -- log-on over HTTP


def log_on(live: Live, username: str, secret: str) -> tuple[int, dict[str, str]]:
    live.wall.now += 30  # a fresh step
    body = {"username": username, "password": PASSWORD, "banner_acknowledged": True,
            "code": totp_code(secret, live.wall())}  # fmt: skip
    r = live.http.post("/api/session", json=body)
    return r.status_code, r.json()


def accounts_with(live: Live, key: SealingKey | None) -> Accounts:
    return Accounts(store=AccountStore(engine=live.store.engine), clock=live.wall, key=key)


def test_a_secret_sealed_under_another_key_is_a_401_and_a_log_line(tmp_path, caplog):
    live = Live(sqlite_url(tmp_path))
    elsewhere = new_key()
    new = accounts_with(live, SealingKey.parse(elsewhere)).add("ana", "supervisor",
                                                                 password=PASSWORD)  # fmt: skip
    assert new.totp_secret is not None
    with caplog.at_level(logging.ERROR, logger="hotline.accounts"):
        status, body = log_on(live, "ana", new.totp_secret)
    assert (status, body["error_id"]) == (401, "log-on-refused")
    assert "log-on of 'ana' refused: its TOTP secret was sealed under another key" in caplog.text
    assert elsewhere not in caplog.text
    assert new.totp_secret not in caplog.text
    again = accounts_with(live, live.settings.sealing_key()).reset("ana", password=PASSWORD)
    assert again.totp_secret is not None
    assert log_on(live, "ana", again.totp_secret)[0] == 200


def test_a_server_without_the_key_refuses_an_mfa_log_on_with_a_401(tmp_path, caplog):
    live = Live(sqlite_url(tmp_path), secret_key=None)
    new = accounts_with(live, SealingKey.parse(new_key())).add("ben", "admin", password=PASSWORD)
    assert new.totp_secret is not None
    with caplog.at_level(logging.ERROR, logger="hotline.accounts"):
        status, body = log_on(live, "ben", new.totp_secret)
    assert (status, body["error_id"]) == (401, "log-on-refused")
    assert "log-on of 'ben' refused: HOTLINE_SECRET_KEY is not set" in caplog.text


def test_a_secret_kept_in_clear_logs_on_over_http_and_is_sealed(tmp_path):
    live = Live(sqlite_url(tmp_path))
    new = accounts_with(live, live.settings.sealing_key()).add("cai", "planner",
                                                               password=PASSWORD)  # fmt: skip
    assert new.totp_secret is not None
    with live.store.engine.begin() as c:  # the row as it was before secrets were sealed
        c.execute(text("UPDATE users SET totp_secret = :s"), {"s": new.totp_secret})
    assert log_on(live, "cai", new.totp_secret)[0] == 200
    with live.store.engine.connect() as c:
        stored = c.execute(text("SELECT totp_secret FROM users")).scalar_one()
    assert stored.startswith("v1:")
    assert new.totp_secret not in stored
    assert log_on(live, "cai", new.totp_secret)[0] == 200
