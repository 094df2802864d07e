"""Users and passwords: scrypt hashes (standard library), roles, and the login check.

Roles (:data:`actor.db.ROLES`): ``trainee`` (rehearses; sees only their own sessions),
``trainer`` (also edits scenarios, personas and the rubric) and ``reviewer`` (reads and reviews
all sessions). Users are added with ``actor user add``. While the database has no users the app
runs without a login (one person on their own laptop).

The login has a brake (:class:`LoginBrake`): failed attempts are counted per user name and per
client address; each failure delays the answer a little longer, and the fifth failure for a name
(the twentieth for an address, which a whole office may share) within a minute locks that name or
address for five minutes (longer after each lockout), during which every attempt is refused
without computing a hash. An unknown name costs the same scrypt hash
as a known one, so the answer time does not tell which names exist. Failures and lockouts are
logged (logger ``actor.auth``) with the name and address, never the password.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable

from actor.db import Database

N, R, P = 2**14, 8, 1  # scrypt cost: ~50 ms and 16 MiB per check on a laptop
MIN_PASSWORD, MAX_PASSWORD = 8, 1024  # characters
UNKNOWN_USER_HASH = f"scrypt${N}${R}${P}${'00' * 16}${'00' * 64}"  # checked for unknown names: same cost, never matches
_HASHING = threading.BoundedSemaphore(2)  # a flood of logins uses at most two cores
log = logging.getLogger("actor.auth")

client_address: ContextVar[str | None] = ContextVar("client_address", default=None)
"""The address of the client whose request is being handled (set by the web app's middleware);
the login brake counts failures per address."""


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$<salt hex>$<hash hex>`` for ``password``. Raises ``ValueError`` for a
    password shorter than 8 or longer than 1024 characters."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password may have at most {MAX_PASSWORD} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P)
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison); ``False`` for a
    malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)  # times of failures within the window
    pending: int = 0  # checks running now (counted against the limit, so parallel tries gain nothing)
    locked_until: float = 0.0
    lockouts: int = 0
    last: float = 0.0


class LoginBrake:
    """Counts failed logins per key (``("user", name)``, ``("client", address)``).

    A user key with ``max_failures`` failures within ``window`` seconds (a client key with
    ``max_client_failures``: many people may share an address) is locked for ``lockout``
    seconds, doubled after each lockout up to ``max_lockout``; a locked key refuses every attempt
    before any hash is computed (:meth:`begin` returns ``False``). Checks still running count
    against the limit, so parallel attempts get no more tries. After failure *n* the answer is
    delayed by ``delay · 2**(n-1)`` seconds, at most ``max_delay`` (:meth:`end`). A success
    clears the user's record; the client's record keeps its failures. Times come from ``clock``
    (seconds, monotonic). Thread-safe.
    """

    def __init__(self, max_failures: int = 5, max_client_failures: int = 20, window: float = 60.0, lockout: float = 300.0,
                 max_lockout: float = 3600.0, delay: float = 0.25, max_delay: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.max_client_failures = max_failures, max_client_failures
        self.window, self.lockout, self.max_lockout = window, lockout, max_lockout
        self.delay, self.max_delay, self.clock = delay, max_delay, clock
        self._records: dict[tuple[str, str], _Record] = {}
        self._lock = threading.Lock()

    def _record(self, key: tuple[str, str], now: float) -> _Record:
        rec = self._records.setdefault(key, _Record())
        while rec.failures and rec.failures[0] <= now - self.window:
            rec.failures.popleft()
        if rec.lockouts and now - rec.last > self.max_lockout:  # quiet for long enough: start afresh
            rec.lockouts = 0
        return rec

    def _limit(self, key: tuple[str, str]) -> int:
        return self.max_client_failures if key[0] == "client" else self.max_failures

    def _forget_idle(self, now: float) -> None:
        if len(self._records) > 10_000:
            for key in [k for k, r in self._records.items()
                        if not r.pending and now >= r.locked_until and (not r.failures or r.failures[-1] <= now - self.window)]:
                del self._records[key]

    def locked(self, keys: list[tuple[str, str]]) -> float:
        """Seconds until every key in ``keys`` may try again (0: they may now)."""
        with self._lock:
            now = self.clock()
            wait = 0.0
            for key in keys:
                rec = self._record(key, now)
                wait = max(wait, rec.locked_until - now)
                if len(rec.failures) + rec.pending >= self._limit(key) and rec.failures:
                    wait = max(wait, rec.failures[0] + self.window - now)
            return max(wait, 0.0)

    def begin(self, keys: list[tuple[str, str]]) -> bool:
        """Whether an attempt for ``keys`` may be checked now; when it may, it counts as running
        until :meth:`end`."""
        with self._lock:
            now = self.clock()
            self._forget_idle(now)
            for key in keys:
                rec = self._record(key, now)
                if now < rec.locked_until or len(rec.failures) + rec.pending >= self._limit(key):
                    return False
            for key in keys:
                self._records[key].pending += 1
            return True

    def end(self, keys: list[tuple[str, str]], ok: bool) -> float:
        """Record the outcome of an attempt begun with :meth:`begin`; returns the delay in
        seconds to wait before answering a failure (0 for a success)."""
        with self._lock:
            now = self.clock()
            worst = 0
            for key in keys:
                rec = self._record(key, now)
                rec.pending = max(rec.pending - 1, 0)
                rec.last = now
                if ok and key[0] == "user":
                    rec.failures.clear()
                    rec.locked_until, rec.lockouts = 0.0, 0
                elif not ok:
                    rec.failures.append(now)
                    worst = max(worst, len(rec.failures) if key[0] == "user" else 1)
                    if len(rec.failures) >= self._limit(key):
                        seconds = min(self.lockout * 2 ** rec.lockouts, self.max_lockout)
                        rec.locked_until, rec.lockouts = now + seconds, rec.lockouts + 1
                        log.warning("login locked for %s %r for %.0f s after %d failures within %.0f s",
                                    key[0], key[1], seconds, len(rec.failures), self.window)
            return 0.0 if ok else min(self.delay * 2 ** (worst - 1), self.max_delay)


class Users:
    """Login checks and roles over ``db``; ``brake``: the :class:`LoginBrake` (a fresh one by
    default: its counts live in this process)."""

    def __init__(self, db: Database, brake: LoginBrake | None = None) -> None:
        self.db = db
        self.brake = brake or LoginBrake()

    def add(self, username: str, role: str, password: str) -> None:
        """Store a new user. Raises ``ValueError`` (short or long password, unknown role,
        existing name)."""
        self.db.add_user(username.strip(), role, hash_password(password))

    def set_password(self, username: str, password: str) -> None:
        """Give ``username`` a new password. Raises ``ValueError`` (short or long password) and
        ``KeyError`` (unknown user)."""
        self.db.set_password_hash(username.strip(), hash_password(password))

    def remove(self, username: str) -> None:
        """Delete the user (their sessions stay). Raises ``KeyError`` for an unknown user."""
        self.db.remove_user(username.strip())

    def attempt(self, username: str, password: str, client: str | None = None) -> tuple[bool, float]:
        """Check a login through the brake: ``(accepted, seconds to wait before answering)``.

        A locked name or ``client`` address is refused at once, without a hash. An unknown name
        is checked against :data:`UNKNOWN_USER_HASH` (same cost as a real check). Logs failures
        and refusals without the password."""
        name = username.strip()
        keys = [("user", name)] + ([("client", client)] if client else [])
        if not self.brake.begin(keys):
            log.warning("login refused for user %r from %s: locked for %.0f s more", name, client or "-",
                        self.brake.locked(keys))
            return False, 0.0
        ok = False
        try:
            user = self.db.user(name) if name else None
            with _HASHING:
                ok = check_password(password[:MAX_PASSWORD], user.password_hash if user else UNKNOWN_USER_HASH)
            ok = ok and user is not None and len(password) <= MAX_PASSWORD
        finally:
            delay = self.brake.end(keys, ok)
        if ok:
            log.info("login: user %r from %s", name, client or "-")
        else:
            log.warning("login failed for user %r from %s", name, client or "-")
        return ok, delay

    def login(self, username: str, password: str, client: str | None = None) -> bool:
        """Whether the name and password match a user, through the brake (no delay applied)."""
        return self.attempt(username, password, client)[0]

    async def authenticate(self, username: str, password: str) -> bool:
        """The Gradio ``auth`` callback: :meth:`attempt` on a worker thread (the hash does not
        hold up the server), for the client in :data:`client_address`, and a failure answered
        after the brake's delay."""
        ok, delay = await asyncio.to_thread(self.attempt, username, password, client_address.get())
        if delay:
            await asyncio.sleep(delay)
        return ok

    def role(self, username: str | None) -> str | None:
        """The user's role; ``None`` for no or an unknown user."""
        user = self.db.user(username) if username else None
        return user.role if user else None

    def required(self) -> bool:
        """Whether the app asks for a login (there is at least one user)."""
        return bool(self.db.users())
