"""Accounts in the store: users, the failed log-ons by name tried, and browser sessions
(only a hash of each session's token is kept). Each method is one transaction."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from hotline.records.audit import Entry, append
from hotline.store import revisions
from hotline.store.repository import insert_for, transaction
from hotline.store.tables import agent_tokens, agents, logon_guard, users, web_sessions


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    agent_id: str | None
    password_hash: str
    mfa: bool
    totp_secret: str | None
    totp_last_step: int | None
    multi_session: bool
    disabled: bool
    created_at: float
    password_set_at: float


@dataclass(frozen=True, slots=True)
class StoredSession:
    username: str
    csrf: str
    created_at: float
    seen_at: float
    source: str


def _within(times: list[float], now: float, window: float) -> list[float]:
    return [t for t in times if now - t < window]


def _user(row: Any) -> User:
    return User(**{k: row._mapping[k] for k in User.__slots__})


class AccountStore:
    def __init__(self, *, engine: Engine) -> None:
        self.engine = engine

    # -- users

    def user(self, username: str) -> User | None:
        with transaction(self.engine) as c:
            row = c.execute(select(users).where(users.c.username == username)).first()
            return None if row is None else _user(row)

    def user_of_agent(self, agent_id: str) -> User | None:
        with transaction(self.engine) as c:
            row = c.execute(select(users).where(users.c.agent_id == agent_id)).first()
            return None if row is None else _user(row)

    def users(self) -> list[User]:
        with transaction(self.engine) as c:
            return [_user(r) for r in c.execute(select(users).order_by(users.c.username))]

    def add_user(self, user: User, *, audit: Entry) -> None:
        """A new user; `audit`, its audit entry, in the same transaction."""
        with transaction(self.engine) as c:
            append(c, audit)
            c.execute(insert(users).values(**{k: getattr(user, k) for k in User.__slots__}))

    def change_user(self, username: str, *, audit: Entry, **values: object) -> bool:
        """Set some of a user's columns, with `audit` in the same transaction; False (and
        nothing written) if there is no such user."""
        with transaction(self.engine) as c:
            done = c.execute(update(users).where(users.c.username == username).values(**values))
            if done.rowcount != 1:
                return False
            append(c, audit)
            if values.get("disabled"):  # (its sessions and sockets end; after the audit
                # chain's lock, as every change that appends and grows a revision takes them)
                revisions.bump(c, revisions.ACCESS)
            return True

    def replace_totp_secret(self, username: str, old: str, new: str) -> bool:
        """Store `new` as the user's TOTP secret if it is still `old` (a reset meanwhile
        wins); False if it was not."""
        with transaction(self.engine) as c:
            done = c.execute(
                update(users)
                .where(users.c.username == username, users.c.totp_secret == old)
                .values(totp_secret=new)
            )
            return done.rowcount == 1

    def use_totp_step(self, username: str, step: int) -> bool:
        """Mark a code's time step used, if it is later than the last one used (one
        statement: two log-ons racing with one code cannot both win)."""
        with transaction(self.engine) as c:
            done = c.execute(
                update(users)
                .where(users.c.username == username)
                .where((users.c.totp_last_step.is_(None)) | (users.c.totp_last_step < step))
                .values(totp_last_step=step)
            )
            return done.rowcount == 1

    def agents(self) -> set[str]:
        with transaction(self.engine) as c:
            return set(c.execute(select(agents.c.id)).scalars())

    # -- failed log-ons

    def guard(self, username: str) -> tuple[list[float], float | None]:
        """The failures kept for a name, and when it was locked (None: it is not)."""
        with transaction(self.engine) as c:
            row = c.execute(select(logon_guard).where(logon_guard.c.username == username)).first()
            return ([], None) if row is None else (list(row.failures), row.locked_at)

    def attempt(
        self, username: str, now: float, *, window: float, limit: int, lock: bool = True
    ) -> bool:
        """Count a log-on attempt against the name before its password is checked (as a
        failure until `cleared`): False once `limit` attempts fell within `window` seconds,
        and the name locked (with `lock`; without, refused until the oldest age out). One
        transaction holding the name's row, so attempts at once are counted one after
        another: no more than `limit` are ever checked."""
        with transaction(self.engine) as c:
            insert_new = insert_for(c)
            c.execute(insert_new(logon_guard).values(username=username, failures=[],
                                                     locked_at=None, last_at=now)
                      .on_conflict_do_nothing(index_elements=["username"]))  # fmt: skip
            row = c.execute(
                select(logon_guard).where(logon_guard.c.username == username).with_for_update()
            ).one()
            recent = _within(row.failures, now, window)
            if row.locked_at is not None or len(recent) >= limit:
                locked_at = row.locked_at or (now if lock else None)
                c.execute(update(logon_guard).where(logon_guard.c.username == username)
                          .values(failures=recent, locked_at=locked_at,
                                  last_at=now))  # fmt: skip
                return False
            c.execute(update(logon_guard).where(logon_guard.c.username == username)
                      .values(failures=[*recent, now], last_at=now))  # fmt: skip
            return True

    def lock_if_spent(
        self, username: str, now: float, *, window: float, limit: int, audit: Entry
    ) -> None:
        """Lock a name once `limit` attempts fell within `window` (a lock stays until an
        administrator unlocks it); `audit`, the failed log-on, in the same transaction (with
        `result: name locked` if this locked it)."""
        with transaction(self.engine) as c:
            row = c.execute(
                select(logon_guard).where(logon_guard.c.username == username).with_for_update()
            ).first()
            if row is not None and row.locked_at is None \
                    and len(_within(row.failures, now, window)) >= limit:  # fmt: skip
                c.execute(update(logon_guard).where(logon_guard.c.username == username)
                          .values(locked_at=now))  # fmt: skip
                audit = replace(audit, details={**audit.details, "result": "name locked"})
            append(c, audit)

    def clear_failures(self, username: str) -> None:
        """Forget a name's failures, unless it is locked (a log-on: never lifts a lock), in
        one statement (a lock made meanwhile stays)."""
        with transaction(self.engine) as c:
            c.execute(delete(logon_guard).where(logon_guard.c.username == username,
                                                logon_guard.c.locked_at.is_(None)))  # fmt: skip

    def known(self, key: str, since: float) -> bool:
        """Whether `key` (a name and an address) logged on at or after `since`."""
        with transaction(self.engine) as c:
            at = c.execute(select(logon_guard.c.last_at)
                           .where(logon_guard.c.username == key)).scalar()  # fmt: skip
            return at is not None and at >= since

    def logged_on(self, key: str, now: float) -> None:
        """`key` (a name and an address) logged on now (`known` from now on)."""
        with transaction(self.engine) as c:
            insert_new = insert_for(c)
            c.execute(insert_new(logon_guard).values(username=key, failures=[], locked_at=None,
                                                     last_at=now)
                      .on_conflict_do_update(index_elements=["username"],
                                             set_={"last_at": now}))  # fmt: skip

    def clear_guard(self, username: str) -> None:
        """Forget a name's failures and lock (a log-on that succeeded; an unlock)."""
        with transaction(self.engine) as c:
            c.execute(delete(logon_guard).where(logon_guard.c.username == username))

    def revoke_agent_token(self, agent_id: str | None) -> None:
        """An agent's bot token stops working (their account was disabled or reset)."""
        if agent_id is not None:
            with transaction(self.engine) as c:
                gone = c.execute(delete(agent_tokens).where(agent_tokens.c.agent_id == agent_id))
                if gone.rowcount:
                    revisions.bump(c, revisions.ACCESS)

    # -- sessions

    def add_session(
        self, digest: str, session: StoredSession, *, end_others: bool, audit: Entry
    ) -> int:
        """Keep a new session; with `end_others`, the user's other sessions end in the
        same transaction, and `audit` (the log-on) is written in it. Returns how many ended."""
        with transaction(self.engine) as c:
            append(c, audit)
            ended = 0
            if end_others:
                ended = c.execute(
                    delete(web_sessions).where(web_sessions.c.username == session.username)
                ).rowcount
                if ended:
                    revisions.bump(c, revisions.ACCESS)
            row = {"token_sha256": digest, "username": session.username, "csrf": session.csrf,
                   "created_at": session.created_at, "seen_at": session.seen_at,
                   "source": session.source}  # fmt: skip
            c.execute(insert(web_sessions).values(**row))
            return ended

    def session(self, digest: str) -> StoredSession | None:
        with transaction(self.engine) as c:
            row = c.execute(
                select(web_sessions).where(web_sessions.c.token_sha256 == digest)
            ).first()
            if row is None:
                return None
            return StoredSession(row.username, row.csrf, row.created_at, row.seen_at, row.source)

    def sessions(self, digests: Collection[str]) -> dict[str, StoredSession]:
        """The open sessions among `digests` whose user is not disabled (one query)."""
        if not digests:
            return {}
        with transaction(self.engine) as c:
            rows = c.execute(
                select(web_sessions)
                .join(users, users.c.username == web_sessions.c.username)
                .where(web_sessions.c.token_sha256.in_(list(digests)), ~users.c.disabled)
            )
            return {r.token_sha256: StoredSession(r.username, r.csrf, r.created_at, r.seen_at,
                                                  r.source) for r in rows}  # fmt: skip

    def seen(self, digest: str, at: float) -> None:
        with transaction(self.engine) as c:
            c.execute(update(web_sessions).where(web_sessions.c.token_sha256 == digest)
                      .values(seen_at=at))  # fmt: skip

    def end_session(self, digest: str) -> bool:
        with transaction(self.engine) as c:
            gone = c.execute(delete(web_sessions).where(web_sessions.c.token_sha256 == digest))
            if gone.rowcount:
                revisions.bump(c, revisions.ACCESS)
            return gone.rowcount == 1

    def end_sessions_of(self, username: str) -> int:
        with transaction(self.engine) as c:
            gone = c.execute(delete(web_sessions).where(web_sessions.c.username == username))
            if gone.rowcount:
                revisions.bump(c, revisions.ACCESS)
            return int(gone.rowcount)
