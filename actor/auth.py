"""Users and passwords: scrypt hashes (standard library), roles, and the login check.

Roles (:data:`actor.db.ROLES`): ``trainee`` (rehearses; sees only their own sessions),
``trainer`` (also edits scenarios, personas and the rubric) and ``reviewer`` (reads and reviews
all sessions). Users are added with ``actor user add``. While the database has no users the app
runs without a login (one person on their own laptop).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from actor.db import Database

N, R, P = 2**14, 8, 1  # scrypt cost: ~50 ms and 16 MiB per check on a laptop


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$<salt hex>$<hash hex>`` for ``password``. Raises ``ValueError`` for
    a password shorter than 8 characters."""
    if len(password) < 8:
        raise ValueError("the password needs at least 8 characters")
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


class Users:
    """Login checks and roles over ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, username: str, role: str, password: str) -> None:
        """Store a new user. Raises ``ValueError`` (short password, unknown role, existing name)."""
        self.db.add_user(username.strip(), role, hash_password(password))

    def login(self, username: str, password: str) -> bool:
        """Whether the name and password match a user (the Gradio ``auth`` callback)."""
        user = self.db.user(username.strip())
        return user is not None and check_password(password, user.password_hash)

    def role(self, username: str | None) -> str | None:
        """The user's role; ``None`` for no or an unknown user."""
        user = self.db.user(username) if username else None
        return user.role if user else None

    def required(self) -> bool:
        """Whether the app asks for a login (there is at least one user)."""
        return bool(self.db.users())
