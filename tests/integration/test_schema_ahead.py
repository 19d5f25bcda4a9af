"""A database a newer Hotline migrated (a node left on the old version in a rolling upgrade,
or the code rolled back): every command refuses it by name, saying what to do, and changes
nothing in it; a node still running on it says so on /healthz."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from hotline.store.db import SchemaAhead, connect, migrate, require_current, schema

from .live_fixtures import Live, pg_url, sqlite_url  # noqa: F401 (pg_url is a fixture)
from .test_cli import run

NEWER = "0099"  # a revision this Hotline does not know


def _migrated_by_a_newer_hotline(engine: Engine) -> None:
    migrate(engine)
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": NEWER})


def _revision(engine: Engine) -> str:
    with engine.connect() as c:
        return str(c.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrating_a_newer_schema_is_refused_by_name_and_changes_nothing(
    request, tmp_path, backend
):
    url = sqlite_url(tmp_path) if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = connect(url)
    _migrated_by_a_newer_hotline(engine)
    assert schema(engine) == "newer"
    with pytest.raises(SchemaAhead) as e:
        migrate(engine)
    assert f"its schema is {NEWER}" in e.value.message
    assert "knows schemas up to 0012" in e.value.message
    with pytest.raises(SchemaAhead):
        require_current(engine, url)
    assert _revision(engine) == NEWER
    engine.dispose()


def test_every_command_refuses_a_newer_schema_as_an_error_not_a_bug(tmp_path):
    url = sqlite_url(tmp_path)
    engine = connect(url)
    _migrated_by_a_newer_hotline(engine)
    env = {"HOTLINE_DATABASE_URL": url}
    commands = (("nodes",), ("forecast", "--line", "national"),
                ("audit", "export", str(tmp_path / "export")))  # fmt: skip
    for args in commands:
        p = run(*args, env=env)
        assert p.returncode == 1, (args, p.stderr)
        assert "was migrated by a newer Hotline" in p.stderr, (args, p.stderr)
        assert "internal error" not in p.stderr
    assert not (tmp_path / "export").exists()
    assert _revision(engine) == NEWER
    engine.dispose()


def test_a_node_left_on_an_older_hotline_is_not_ready_and_says_why(tmp_path):
    live = Live(sqlite_url(tmp_path))
    assert live.http.get("/healthz").json()["schema"] == "current"
    with live.store.engine.begin() as c:  # a newer node migrates the database meanwhile
        c.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": NEWER})
    r = live.http.get("/healthz")
    assert r.status_code == 503
    assert (r.json()["ready"], r.json()["schema"]) == (False, "newer")
