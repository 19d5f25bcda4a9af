"""A database a newer Hotline migrated (a node left on the old version in a rolling upgrade,
or the code rolled back): every command refuses it by name, saying what to do, and changes
nothing in it; a node still running on it serves on and says so on /healthz; one that
tries to take a line over on it stops cleanly (docs/operations.md, "Upgrading")."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from hotline.service.node import Node
from hotline.store.db import SchemaAhead, connect, migrate, require_current, schema
from hotline.store.leases import Leases, leases
from hotline.web.node_app import NodeApp

from .live_fixtures import PUBLIC, Live, pg_url, sqlite_url  # noqa: F401 (a fixture)
from .test_cli import run
from .test_node_line_stopped import until

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


def test_a_node_left_on_an_older_hotline_serves_on_and_says_so(tmp_path):
    """(A rolling upgrade: the old leader serves until it is stopped; were it not ready, the
    front would have no node to send the carrier's requests to, the upgraded ones standing
    by.) Before its migration, the schema is "old" and the node not ready."""
    live = Live(sqlite_url(tmp_path))
    assert live.http.get("/healthz").json()["schema"] == "current"
    with live.store.engine.begin() as c:  # a newer node migrates the database meanwhile
        c.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": NEWER})
    r = live.http.get("/healthz")
    assert (r.status_code, r.json()["ready"], r.json()["schema"]) == (200, True, "newer")
    with live.store.engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0011'"))
    r = live.http.get("/healthz")
    assert (r.status_code, r.json()["ready"], r.json()["schema"]) == (503, False, "old")


def test_a_node_left_behind_lets_its_lines_go_cleanly_and_stops(tmp_path):
    """A node whose build of a group finds a newer Hotline's schema (a takeover during a
    rolling upgrade) lets that group go, stops the group it serves (not by exiting in the
    middle of it), lets its leases go and leaves the nodes' list: counted alive, it would
    keep lines from the nodes that can lead them."""
    engine = connect(sqlite_url(tmp_path))
    migrate(engine)
    leased = Leases(engine=engine, node="old", ttl=2.0)
    leased.join()
    lost: list[str] = []
    node = Node(leases=leased, groups=lambda: [("helpline",), ("national",)],
                on_lost=lost.append)  # fmt: skip
    built: list[tuple[str, ...]] = []
    stopped: list[tuple[str, ...]] = []

    def build(group: tuple[str, ...]) -> Starlette:
        built.append(group)
        if group == ("national",):
            raise SchemaAhead("the database was migrated by a newer Hotline")

        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            yield
            stopped.append(group)

        return Starlette(lifespan=lifespan)

    app = NodeApp(node=node, build=build, public_url=PUBLIC, hold_for=0.3, poll=0.05)
    with TestClient(app):
        until(lambda: lost, "the node stops")
        assert lost == ["the database was migrated by a newer Hotline"]
        assert built == [("helpline",), ("national",)]
        assert stopped == [("helpline",)]
        assert not app.serving
        now, held, members = leases(engine)
        assert {x.line: x.expires_at > now for x in held} == {"helpline": False,
                                                               "national": False}  # fmt: skip
        assert [m.name for m in members] == []
    engine.dispose()
