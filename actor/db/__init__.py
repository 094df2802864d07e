"""Server-side store of rehearsal sessions: SQLAlchemy models and Alembic migrations.

:class:`Database` opens any SQLAlchemy URL (by default SQLite at :func:`default_url`) and
migrates it with the migrations shipped in ``actor/db/migrations``; :class:`SessionRow` and
:class:`TurnRow` are the stored rows (turns form a tree, so a retry keeps the old branch);
:class:`UserRow`, :class:`OverrideRow` and :class:`CommentRow` serve login and review.
"""

from actor.db.models import ROLES, CommentRow, OverrideRow, SessionRow, TurnRow, UserRow
from actor.db.repository import Database, default_url

__all__ = ["ROLES", "CommentRow", "Database", "OverrideRow", "SessionRow", "TurnRow", "UserRow", "default_url"]
