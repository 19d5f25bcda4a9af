"""Who may use the system: local accounts (Argon2id passwords, TOTP codes for every
account by default), log-on with a lockout, and browser sessions with an idle limit and a
fresh log-on every 12 hours. Time comes from the `clock` given (a virtual one in tests).

The rules (issue 11; NIST SP 800-63B for passwords):
- a password has at least 8 characters (15 for an account without MFA), no composition
  rules, and is not among the 30,000 commonest passwords (zxcvbn's list);
- a TOTP code (RFC 6238: 6 digits, 30 s, one step either side) is accepted once: a code
  of a step already used is refused, even within its 30 s;
- 5 failed log-ons of a name from one address (an IPv6 /64) within 15 minutes hold that
  address off the name for the rest of the 15 minutes; 100 within a day, from anywhere,
  lock the name until an administrator unlocks it, except from an address it logged on
  from in the last 30 days with its present password (failures from there count all the
  same; a log-on never lifts a lock); a wrong password, a wrong code, an unknown user, a
  disabled, held off or locked account all get the same answer (an unknown name is hashed
  against too, so it takes as long as a known one);
- a session ends after 30 minutes without a request, and 12 hours after its log-on;
- one session per user: a new log-on ends the others, unless the account allows several;
- a TOTP secret is stored sealed with `HOTLINE_SECRET_KEY` (service.sealing), which adding
  or resetting an MFA account and an MFA log-on need. A secret stored in clear before
  secrets were sealed still opens, and is sealed at its user's next log-on (or by
  `rekey`); that legacy path goes once deployments have run `hotline user rekey`. A secret
  that does not open (another key, a changed row) refuses the log-on like a wrong code,
  and a log line tells the operator why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from hotline.errors import (
    LogOnRefused,
    PasswordRefused,
    SealedSecretUnreadable,
    SessionEnded,
    SettingsInvalid,
    UnknownUser,
)
from hotline.records.audit import Entry, os_actor, record_entry
from hotline.service.roles import ROLES
from hotline.service.sealing import MISSING, Keyring, SealingKey, is_sealed, sealed_key_id
from hotline.store.accounts import AccountStore, StoredSession, User
from hotline.store.repository import token_digest
from hotline.store.tables import FAILURES_KEPT_FOR, KNOWN_FOR, KNOWN_PREFIX

MIN_PASSWORD = 8
MIN_PASSWORD_WITHOUT_MFA = 15
MAX_PASSWORD = 256  # (Argon2 takes any length; a bound keeps a request's work bounded)
# Failed log-ons: a name's from one address hold that address off the name (for anyone
# to lock a name out from anywhere with a few guesses would stop a line's staff logging
# on); a name's from everywhere lock it, until an administrator unlocks it (NIST SP
# 800-63B: at most 100 failures in a row)
FAILURES_TO_HOLD = 5  # of a name from one address within FAILURE_WINDOW: that address's
FAILURE_WINDOW = 15 * 60.0  # next tries at the name are refused until the oldest ages out
FAILURES_TO_LOCK = 100  # of a name from any address within LOCK_WINDOW: locked
LOCK_WINDOW = FAILURES_KEPT_FOR  # a day (the store's purge forgets a row after it)
IDLE_LIMIT = 30 * 60.0
SESSION_LIMIT = 12 * 3600.0
SEEN_EVERY = 60.0  # a session's last request is written at most this often
TOTP_STEP = 30
TOTP_DIGITS = 6
ISSUER = "Hotline"
REFUSED = "wrong user name, password or code, or the account is locked"
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")

log = logging.getLogger("hotline.accounts")


def guard_key(username: str, source: str) -> str:
    """The key a name's failed log-ons from one address are counted under: no user name
    (it starts with `~`), and short enough for any address."""
    return "~" + _digest(username, _network(source))


def known_key(user: User, source: str) -> str:
    """The key of a user's log-ons from one address (KNOWN_PREFIX): bound to their
    password's hash too, so a reset (or a new password) forgets every address."""
    return KNOWN_PREFIX + _digest(user.username, _network(source), user.password_hash)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:48]


NAT64 = ipaddress.ip_network("64:ff9b::/96")  # (RFC 6052: an IPv4 client behind NAT64)


def _network(source: str) -> str:
    """An address as its holder's: an IPv6 address's /64 (one holder has many), the
    IPv4 address inside a mapped or NAT64 one; a host name as it is (test clients)."""
    try:
        ip = ipaddress.ip_address(source.partition("%")[0])
    except ValueError:
        return source
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip in NAT64:
        return str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


_hasher = PasswordHasher()  # Argon2id, the library's (RFC 9106) defaults
_NOBODY = _hasher.hash(secrets.token_urlsafe(16))  # what an unknown name is checked against


@cache
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    return frozenset(FREQUENCY_LISTS["passwords"])  # (loaded on first use: it is big)


def password_problem(password: str, *, mfa: bool) -> str | None:
    """Why a password may not be used, or None."""
    least = MIN_PASSWORD if mfa else MIN_PASSWORD_WITHOUT_MFA
    if len(password) < least:
        without = "" if mfa else " for an account without MFA"
        return f"a password needs at least {least} characters{without}"
    if len(password) > MAX_PASSWORD:
        return f"a password has at most {MAX_PASSWORD} characters"
    if password.lower() in _common():
        return "that password is among the commonest ones: choose another"
    return None


def new_password() -> str:
    """A one-time password to hand out (20 characters, about 120 bits)."""
    return secrets.token_urlsafe(15)


def _totp(secret: str) -> TOTP:
    key = base64.b32decode(secret)
    return TOTP(key, TOTP_DIGITS, SHA1(), TOTP_STEP, enforce_key_length=False)


def totp_code(secret: str, at: float) -> str:
    """The code an authenticator app shows at `at` (for tests and the demo's bots)."""
    code: bytes = _totp(secret).generate(int(at))
    return code.decode()


def provisioning_uri(secret: str, username: str) -> str:
    """What an authenticator app scans (otpauth://totp/...)."""
    uri: str = _totp(secret).get_provisioning_uri(username, ISSUER)
    return uri


@dataclass(frozen=True, slots=True)
class NewAccount:
    username: str
    role: str
    password: str  # shown once
    totp_secret: str | None  # shown once (base32); None without MFA

    @property
    def totp_uri(self) -> str | None:
        return (
            None if self.totp_secret is None else provisioning_uri(self.totp_secret, self.username)
        )


@dataclass(frozen=True, slots=True)
class Session:
    """A browser session: `token` goes in the cookie, `csrf` in each changing request."""

    token: str
    username: str
    role: str
    agent_id: str | None
    csrf: str
    created_at: float


def ip_or_none(source: str) -> str | None:
    """A client's address as the audit trail keeps it: an IP address, or None (a test
    client's made-up host name); an IPv6 scope id (`%...`, any text) is dropped."""
    try:
        return str(ipaddress.ip_address(source.partition("%")[0]))
    except ValueError:
        return None


def _logon(
    now: float, actor: str, role: str, source: str, outcome: str, reason: str = "",
    session: str | None = None,
) -> Entry:  # fmt: skip
    """A log-on's audit entry (never the password or code tried)."""
    return Entry(at=now, actor=actor, role=role, action="session.logon", outcome=outcome,
                 session=session, source=ip_or_none(source),
                 details={"reason": reason} if reason else {})  # fmt: skip


def _checked(password: str | None, *, mfa: bool) -> str:
    """The password to set (a new one if none is given), if it may be used."""
    password = new_password() if password is None else password
    if (why := password_problem(password, mfa=mfa)) is not None:
        raise PasswordRefused(why)
    return password


def _new_secret(mfa: bool) -> str | None:
    """A new TOTP secret (160 bits, base32), for an account with MFA."""
    return base64.b32encode(secrets.token_bytes(20)).decode() if mfa else None


class Accounts:
    def __init__(
        self,
        *,
        store: AccountStore,
        clock: Callable[[], float],
        key: SealingKey | Keyring | None,
        actor: str = "",
    ) -> None:
        """`key`: what seals the TOTP secrets (`Settings.keyring()`, or one key); None if it is not
        set, and then what needs it is refused, naming the setting. `actor`: who
        administers the accounts, for the audit trail (default: the operating system's
        user, as `os:NAME`)."""
        actor = actor or os_actor()
        self.store = store
        self.clock = clock
        self.key = key
        self.actor = actor

    # -- administration (the CLI; later the admin pages)

    def _change(self, action: str, username: str, **details: str) -> Entry:
        """An administration's audit entry: who ran it (`self.actor`), on which user."""
        return Entry(at=self.clock(), actor=self.actor, role="admin", action=action,
                     object=f"user:{username}", details=details)  # fmt: skip

    def add(
        self,
        username: str,
        role: str,
        *,
        password: str | None = None,
        mfa: bool = True,
        agent_id: str | None = None,
        multi_session: bool = False,
    ) -> NewAccount:
        if role not in ROLES:
            raise UnknownUser(f"no role {role!r}: roles are {', '.join(ROLES)}")
        if not USERNAME.fullmatch(username):
            raise UnknownUser("a user name has 1 to 64 letters, digits and . _ @ - (no spaces)")
        if self.store.user(username) is not None:
            raise UnknownUser(f"there is already a user {username!r}")
        password = _checked(password, mfa=mfa)
        secret = _new_secret(mfa)
        sealed = self._sealed(secret, username)
        now = self.clock()
        self.store.add_user(User(username, role, agent_id, _hasher.hash(password), mfa, sealed,
                                 None, multi_session, False, now, now),
                            audit=self._change("user.add", username, role=role))  # fmt: skip
        return NewAccount(username, role, password, secret)

    def reset(self, username: str, *, password: str | None = None) -> NewAccount:
        """A new password and (with MFA) a new TOTP secret; the user's sessions end and
        the account is unlocked."""
        user = self._user(username)
        password = _checked(password, mfa=user.mfa)
        secret = _new_secret(user.mfa)
        sealed = self._sealed(secret, username)
        self.store.change_user(username, password_hash=_hasher.hash(password), totp_secret=sealed,
                               totp_last_step=None, password_set_at=self.clock(),
                               audit=self._change("user.reset", username))  # fmt: skip
        self.store.end_sessions_of(username)
        self.store.clear_guard(username)
        self.store.revoke_agent_token(user.agent_id)
        return NewAccount(username, user.role, password, secret)

    def disable(self, username: str) -> None:
        """No more log-ons; their sessions end, and an agent's bot token is revoked (their
        sockets close within a second)."""
        user = self._user(username)
        self.store.change_user(
            username, disabled=True, audit=self._change("user.disable", username)
        )
        self.store.end_sessions_of(username)
        self.store.revoke_agent_token(user.agent_id)

    def enable(self, username: str) -> None:
        self._user(username)
        self.store.change_user(
            username, disabled=False, audit=self._change("user.enable", username)
        )

    def unlock(self, username: str) -> bool:
        """Clear a name's failed log-ons (any name tried: an unknown one locks alike).
        Returns whether it was locked."""
        _, locked_at = self.store.guard(username)
        self.store.clear_guard(username)
        was = "was-locked" if locked_at else "was-not"
        record_entry(self.store.engine, self._change("user.unlock", username[:128], result=was))
        return locked_at is not None

    def rekey(self) -> int:
        """Seal every TOTP secret still stored in clear (from before secrets were sealed),
        and seal again under the current key those an older key sealed (a key rotation:
        HOTLINE_PREVIOUS_SECRET_KEYS); returns how many were sealed. A secret no key given
        opens is a `SealedSecretUnreadable` naming its user and key id."""
        key = self._key()
        done = 0
        for user in self.store.users():
            stored = user.totp_secret
            if stored is None or (is_sealed(stored) and sealed_key_id(stored) == key.key_id):
                continue
            try:
                clear = key.open(stored, username=user.username) if is_sealed(stored) else stored
            except SealedSecretUnreadable as e:
                raise SealedSecretUnreadable(f"user {user.username!r}: {e.message}") from None
            sealed = key.seal(clear, username=user.username)
            done += self.store.replace_totp_secret(user.username, stored, sealed)
        return done

    def _key(self) -> SealingKey | Keyring:
        if self.key is None:
            raise SettingsInvalid(MISSING)
        return self.key

    def _sealed(self, secret: str | None, username: str) -> str | None:
        return None if secret is None else self._key().seal(secret, username=username)

    def agents(self) -> set[str]:
        """The agents of every line in the store (an agent's account names one)."""
        return self.store.agents()

    def locked(self, username: str) -> bool:
        return self.store.guard(username)[1] is not None

    def _user(self, username: str) -> User:
        user = self.store.user(username)
        if user is None:
            raise UnknownUser(f"no user {username!r}")
        return user

    # -- log-on

    def log_on(self, username: str, password: str, code: str | None, *, source: str) -> Session:
        """A new session, or `LogOnRefused` (the same for every reason). Each attempt is
        counted before the password is checked, so guesses sent at once cannot outrun the
        limits: the fifth failure of a name from one address within 15 minutes holds that
        address off the name (the others are not), and the hundredth from anywhere within
        a day locks the name (until an administrator unlocks it), except from an address
        it logged on from in the last 30 days with its present password (so no one else's
        guesses keep its owner out; failures from there count all the same). An attempt
        from an address held off, or at a name locked, is refused unchecked and not
        counted."""
        now = self.clock()
        if not USERNAME.fullmatch(username):  # no such account can exist (the rule is
            # public: refused unchecked, as no hash can hide what the rule says)
            record_entry(self.store.engine, _logon(now, "unknown", "none", source, "refused",
                                                   "no such user name"))  # fmt: skip
            raise LogOnRefused(REFUSED)
        user = self.store.user(username)
        near = guard_key(username, source)
        # an address it logged on from lately (with its present password: a reset forgets
        # them); none but an IP address is one (many clients may have no address), and a
        # name no account has none: asked alike all the same, so it takes as long
        address = ip_or_none(source) is not None
        here = (known_key(user, source) if user is not None and address
                else KNOWN_PREFIX + _digest(username, _network(source), "(none)"))  # fmt: skip
        known = self.store.known(here, now - KNOWN_FOR) and user is not None and address
        locked = self.locked(username) and not known
        held = locked or not self.store.attempt(near, now, window=FAILURE_WINDOW,
                                                limit=FAILURES_TO_HOLD, lock=False)  # fmt: skip
        # (counted against the name from a known address too: only its lock is not heeded)
        allowed = not held and (self.store.attempt(username, now, window=LOCK_WINDOW,
                                                   limit=FAILURES_TO_LOCK) or known)  # fmt: skip
        if allowed and self._password_ok(user, password) and user is not None \
                and not user.disabled and self._code_ok(user, code, now):  # fmt: skip
            self.store.clear_failures(username)  # (a lock stays until an administrator's)
            self.store.clear_guard(near)
            if address:
                self.store.logged_on(here, now)
            self._seal_if_clear(user)
            return self._open(user, now, source)
        why = ("locked" if locked or (not held and not allowed)
               else "held off: too many failures from this address" if held
               else "no such user" if user is None
               else "disabled" if user.disabled else "wrong password or code")  # fmt: skip
        failed = _logon(now, username, user.role if user else "none", source, "refused", why)
        self.store.lock_if_spent(username, now, window=LOCK_WINDOW, limit=FAILURES_TO_LOCK,
                                 audit=failed)  # fmt: skip
        raise LogOnRefused(REFUSED)

    def _password_ok(self, user: User | None, password: str) -> bool:
        if len(password) > MAX_PASSWORD:
            return False
        try:
            return (
                _hasher.verify(user.password_hash if user else _NOBODY, password)
                and user is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    def _code_ok(self, user: User, code: str | None, now: float) -> bool:
        if not user.mfa:
            return True
        if (
            user.totp_secret is None
            or code is None
            or not code.isdigit()
            or len(code) != TOTP_DIGITS
        ):
            return False
        secret = self._secret_of(user)
        if secret is None:
            return False
        totp = _totp(secret)
        step = int(now) // TOTP_STEP
        for s in (step - 1, step, step + 1):
            if hmac.compare_digest(totp.generate(s * TOTP_STEP), code.encode()):
                return self.store.use_totp_step(user.username, s)  # a code once only
        return False

    def _secret_of(self, user: User) -> str | None:
        """The user's TOTP secret, opened; None (and a log line for the operator, with no
        secret) if it cannot be."""
        stored = user.totp_secret
        if stored is None:
            return None
        if self.key is None:
            log.error("log-on of %r refused: %s", user.username, MISSING)
            return None
        if not is_sealed(stored):
            return stored  # in clear from before secrets were sealed: sealed at this log-on
        try:
            return self.key.open(stored, username=user.username)
        except SealedSecretUnreadable as e:
            log.error("log-on of %r refused: %s", user.username, e.message)
            return None

    def _seal_if_clear(self, user: User) -> None:
        stored = user.totp_secret
        if self.key is not None and stored is not None and not is_sealed(stored):
            sealed = self.key.seal(stored, username=user.username)
            if self.store.replace_totp_secret(user.username, stored, sealed):
                log.info("the TOTP secret of %r is sealed now (it was in clear)", user.username)

    def _open(self, user: User, now: float, source: str) -> Session:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        stored = StoredSession(user.username, csrf, now, now, ip_or_none(source) or "unknown")
        digest = token_digest(token)
        entry = _logon(now, user.username, user.role, source, "ok", session=digest[:16])
        self.store.add_session(digest, stored, end_others=not user.multi_session, audit=entry)
        return Session(token, user.username, user.role, user.agent_id, csrf, now)

    # -- sessions

    def session(self, token: str | None, *, use: bool = True) -> Session:
        """The session a cookie names, still open; or `SessionEnded` saying why. `use`:
        the person did something (a page refreshing itself is not use: it never keeps
        an idle session open)."""
        if not token:
            raise SessionEnded("not logged on")
        digest = token_digest(token)
        stored = self.store.session(digest)
        if stored is None:
            raise SessionEnded("the session ended (logged off, or a newer log-on): log on again")
        now = self.clock()
        if now - stored.created_at >= SESSION_LIMIT:
            self.store.end_session(digest)
            raise SessionEnded("sessions last 12 hours: log on again")
        if now - stored.seen_at >= IDLE_LIMIT:
            self.store.end_session(digest)
            raise SessionEnded("locked after 30 minutes without use: log on again")
        user = self.store.user(stored.username)
        if user is None or user.disabled:
            self.store.end_session(digest)
            raise SessionEnded("the account is disabled")
        if use and now - stored.seen_at >= SEEN_EVERY:
            self.store.seen(digest, now)
        return Session(token, user.username, user.role, user.agent_id, stored.csrf,
                       stored.created_at)  # fmt: skip

    def open_sessions(self, tokens: Collection[str]) -> dict[str, float]:
        """Those of `tokens` whose session is still open, each with the time (this clock's)
        it locks or ends if not used meanwhile (a socket's, checked often: it does not count
        as use, so an idle session still locks)."""
        now = self.clock()
        by_digest = {token_digest(t): t for t in tokens}
        ends = {d: min(s.created_at + SESSION_LIMIT, s.seen_at + IDLE_LIMIT)
                for d, s in self.store.sessions(by_digest).items()}  # fmt: skip
        return {by_digest[d]: end for d, end in ends.items() if now < end}

    def log_off(self, token: str) -> None:
        self.store.end_session(token_digest(token))
