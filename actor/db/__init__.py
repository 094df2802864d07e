"""Server-side store of rehearsal sessions: SQLAlchemy models and Alembic migrations.

:class:`Database` opens any SQLAlchemy URL (by default SQLite at :func:`default_url`) and
migrates it with the migrations shipped in ``actor/db/migrations``; :class:`SessionRow` and
:class:`TurnRow` are the stored rows (turns form a tree, so a retry keeps the old branch).
"""

from actor.db.models import SessionRow, TurnRow
from actor.db.repository import Database, default_url

__all__ = ["Database", "SessionRow", "TurnRow", "default_url"]
