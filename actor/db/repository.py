"""The rehearsal store: :class:`Database` over any SQLAlchemy URL (SQLite by default).

Every write commits before it returns, so a completed turn survives the server being killed.
SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit is in the write-ahead log before it
returns, which survives a crash of the process (a power cut may lose the last commits).
Rows returned by the read methods are detached: all their columns are loaded, and changes to
them are not saved (write through the methods instead).

A turn goes in and out as one :class:`~actor.record.TurnRecord` (:meth:`Database.add_record`,
:meth:`Database.records`); :func:`record_columns` and :func:`row_record` are the one mapping
between the record and the ``turns`` columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, event, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from actor.db.models import MODES, ROLES, STATUSES, VERDICTS, CommentRow, OverrideRow, PromptVersionRow, SessionRow, TurnRow, UserRow, utcnow

if TYPE_CHECKING:
    from actor.record import TurnRecord

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000")

SESSION_FIELDS = frozenset(SessionRow.__table__.columns.keys()) - {"head_turn_id"}
"""Fields :meth:`Database.create_session` accepts (the head moves with turns and :meth:`Database.set_head`)."""
UPDATABLE_FIELDS = SESSION_FIELDS - {"id", "created_at", "updated_at"}
TURN_FIELDS = frozenset(TurnRow.__table__.columns.keys()) - {
    "id", "session_id", "parent_id", "number", "created_at", "graded_at"}
"""Fields :meth:`Database.add_turn` accepts; the others are set by the repository."""


def default_url(home: Path) -> str:
    """The SQLite database under ``home``: ``sqlite:///{home}/actor.db``."""
    return f"sqlite:///{Path(home) / 'actor.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _scrub(value: Any) -> Any:
    """``value`` with NUL characters removed from every string in it, also inside dicts and
    lists (PostgreSQL refuses NUL in text and JSON columns; SQLite would store it)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _check(fields: dict[str, Any], allowed: frozenset[str], what: str) -> None:
    if unknown := set(fields) - allowed:
        raise ValueError(f"unknown {what} field(s): {', '.join(sorted(unknown))}")
    for name, choices in (("mode", MODES), ("status", STATUSES)):
        if name in fields and fields[name] not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}, got {fields[name]!r}")


def record_columns(record: TurnRecord) -> dict[str, Any]:
    """The :data:`TURN_FIELDS` of ``record`` as JSON-ready column values: ``customer_line``,
    ``reply``, ``state_before``, ``state_after``, ``answer``, ``assessment``, ``seconds`` and
    ``move``, which is ``None`` when the record has an assessment (the move is stored once, in
    the assessment; the column keeps it only for a turn without one)."""
    columns = record.model_dump(mode="json", exclude={"id", "number"})
    if record.assessment is not None:
        columns["move"] = None
    return columns


def row_record(row: TurnRow) -> TurnRecord:
    """The :class:`~actor.record.TurnRecord` of a stored turn, with its database id. The move
    of a row without an assessment is its ``move`` column. Raises ``pydantic.ValidationError``
    (a ``ValueError``) for a row whose JSON columns do not hold a valid record."""
    from actor.record import TurnRecord  # the record pulls in the persona and judgement types

    return TurnRecord.model_validate({
        "id": row.id, "number": row.number, "customer_line": row.customer_line, "reply": row.reply, **({"move": row.move} if row.move else {}),
        "state_before": row.state_before, "state_after": row.state_after, "answer": row.answer,
        "assessment": row.assessment, "seconds": row.seconds or {},
    })


def _session_row(s: Session, session_id: str) -> SessionRow:
    row = s.get(SessionRow, session_id)
    if row is None:
        raise KeyError(f"no session {session_id!r}")
    return row


def _turns(s: Session, session_id: str) -> dict[int, TurnRow]:
    return {t.id: t for t in s.scalars(select(TurnRow).where(TurnRow.session_id == session_id))}


def _walk(turns: dict[int, TurnRow], leaf_id: int | None) -> list[TurnRow]:
    path = []
    while leaf_id is not None:
        path.append(turns[leaf_id])
        leaf_id = path[-1].parent_id
    return path[::-1]


class Database:
    """Rehearsal sessions and their turns in the database at ``url`` (any SQLAlchemy URL).

    For SQLite, the file's folder is created and every connection gets :data:`SQLITE_PRAGMAS`
    (WAL journal, ``synchronous=NORMAL``, foreign keys on, 5 s busy timeout); connections may be
    used from any thread. The schema is not touched: call :meth:`upgrade`, or use :meth:`open`.
    """

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        options: dict[str, Any] = {}
        if self.is_sqlite:
            if self.url.database not in (None, "", ":memory:") and not self.url.query.get("uri"):
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"check_same_thread": False}
        self.engine = create_engine(self.url, **options)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Database:
        """A :class:`Database` on ``url`` with its schema upgraded to the newest revision."""
        db = cls(url)
        db.upgrade()
        return db

    def close(self) -> None:
        """Close all pooled connections (the object stays usable and reconnects on demand)."""
        self.engine.dispose()

    # --- schema ---

    def _alembic(self, connection: Connection | None = None) -> Config:
        config = Config(attributes={"connection": connection})
        config.set_main_option("script_location", str(MIGRATIONS))
        return config

    def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema to ``revision`` (default the newest: ``alembic upgrade head``); a
        no-op when current. Raises ``alembic.util.CommandError`` for an unknown revision."""
        with self.engine.connect() as connection:
            if self.is_sqlite:
                # batch migrations copy, drop and rename tables; with foreign keys on, dropping
                # ``sessions`` would cascade-delete every turn
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            try:
                command.upgrade(self._alembic(connection), revision)
                connection.commit()
            finally:
                if self.is_sqlite:
                    connection.rollback()
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    connection.commit()

    def current_revision(self) -> str | None:
        """The schema revision of the database, ``None`` before the first :meth:`upgrade`."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision shipped with this package (what :meth:`upgrade` migrates to)."""
        return ScriptDirectory.from_config(self._alembic()).get_current_head()

    # --- sessions ---

    def create_session(self, **fields: Any) -> str:
        """Store a new session from :class:`SessionRow` ``fields`` and return its id.

        ``id`` defaults to a new 32-hex-digit id; ``scenario``, ``difficulty``, ``lang`` and
        ``opening`` are required. Raises ``ValueError`` for an unknown field (``head_turn_id``
        included), a bad ``mode`` or ``status``.
        """
        _check(fields, SESSION_FIELDS, "session")
        row = SessionRow(**_scrub(fields))
        with self._sessions.begin() as s:
            s.add(row)
        return row.id

    def get_session(self, session_id: str) -> SessionRow | None:
        """The session ``session_id`` (detached, all columns loaded), ``None`` when unknown."""
        with self._sessions() as s:
            return s.get(SessionRow, session_id)

    def update_session(self, session_id: str, **fields: Any) -> None:
        """Set ``fields`` of session ``session_id`` and its ``updated_at``.

        Raises ``KeyError`` for an unknown session, ``ValueError`` for an unknown or read-only
        field (``id``, ``created_at``, ``updated_at``, ``head_turn_id``: see :meth:`set_head`)
        and a bad ``mode`` or ``status``.
        """
        _check(fields, UPDATABLE_FIELDS, "session")
        with self._sessions.begin() as s:
            row = _session_row(s, session_id)
            for name, value in _scrub(fields).items():
                setattr(row, name, value)
            row.updated_at = utcnow()

    def list_sessions(self, owner: str | None = None, limit: int = 100) -> list[SessionRow]:
        """At most ``limit`` sessions, newest first; only ``owner``'s when given."""
        query = select(SessionRow).order_by(SessionRow.created_at.desc(), SessionRow.id.desc()).limit(limit)
        if owner is not None:
            query = query.where(SessionRow.owner == owner)
        with self._sessions() as s:
            return list(s.scalars(query))

    # --- turns ---

    def add_record(self, session_id: str, parent_id: int | None, record: TurnRecord) -> int:
        """Store ``record`` after ``parent_id`` (``None``: the reply to the opening line) as
        :meth:`add_turn` does, and return its new id (the caller sets ``record.id``). Raises what
        :meth:`add_turn` raises, and ``ValueError`` when ``record.number`` is not the parent's
        number plus one."""
        fields = record_columns(record)
        _check(fields, TURN_FIELDS, "turn")
        return self._insert_turn(session_id, parent_id, fields, record.number)

    def records(self, session_id: str, head_id: int | None = None) -> list[TurnRecord]:
        """:meth:`path` as :class:`~actor.record.TurnRecord`\\ s (ids set). Raises what
        :meth:`path` and :func:`row_record` raise."""
        return [row_record(r) for r in self.path(session_id, head_id)]

    def add_turn(self, session_id: str, parent_id: int | None, **fields: Any) -> int:
        """Store a turn after ``parent_id`` (``None``: the reply to the opening line), make it the
        session's head, and return its id; both in one transaction.

        ``fields``: :data:`TURN_FIELDS` of :class:`TurnRow`. ``number`` is the parent's plus one;
        ``graded_at`` is set when an ``assessment`` is given. Raises ``KeyError`` for an unknown
        session, ``ValueError`` for an unknown field or a parent that is not a turn of this session.
        """
        _check(fields, TURN_FIELDS, "turn")
        return self._insert_turn(session_id, parent_id, fields)

    def _insert_turn(self, session_id: str, parent_id: int | None, fields: dict[str, Any], expected: int | None = None) -> int:
        """:meth:`add_turn` of checked ``fields``; ``expected``: the number the turn must get."""
        fields = _scrub(fields)
        with self._sessions.begin() as s:
            row = _session_row(s, session_id)
            number = 1
            if parent_id is not None:
                parent = s.get(TurnRow, parent_id)
                if parent is None or parent.session_id != session_id:
                    raise ValueError(f"turn {parent_id} is not a turn of session {session_id!r}")
                number = parent.number + 1
            if expected is not None and expected != number:
                raise ValueError(f"turn number {expected} does not follow turn {parent_id} (would be {number})")
            now = utcnow()
            turn = TurnRow(session_id=session_id, parent_id=parent_id, number=number, created_at=now,
                           graded_at=now if fields.get("assessment") is not None else None, **fields)
            s.add(turn)
            s.flush()
            row.head_turn_id, row.updated_at = turn.id, now
        return turn.id

    def turn(self, turn_id: int) -> TurnRow | None:
        """The turn ``turn_id`` (detached), ``None`` when unknown."""
        with self._sessions() as s:
            return s.get(TurnRow, turn_id)

    def set_assessment(self, turn_id: int, assessment: dict[str, Any]) -> None:
        """Store the grade of turn ``turn_id`` (``TurnAssessment.model_dump()``) and set ``graded_at``.

        Raises ``KeyError`` for an unknown turn.
        """
        with self._sessions.begin() as s:
            turn = s.get(TurnRow, turn_id)
            if turn is None:
                raise KeyError(f"no turn {turn_id}")
            turn.assessment, turn.graded_at = _scrub(assessment), utcnow()
            turn.move = None  # the move is the assessment's from now on (stored once)

    def set_head(self, session_id: str, turn_id: int | None) -> None:
        """Make ``turn_id`` the head of session ``session_id`` (``None``: back to the opening line).

        For a retry from an earlier turn: the turns after it stay and form another branch once a
        new turn is added. Raises ``KeyError`` for an unknown session, ``ValueError`` for a turn
        that is not one of this session.
        """
        with self._sessions.begin() as s:
            row = _session_row(s, session_id)
            if turn_id is not None:
                turn = s.get(TurnRow, turn_id)
                if turn is None or turn.session_id != session_id:
                    raise ValueError(f"turn {turn_id} is not a turn of session {session_id!r}")
            row.head_turn_id, row.updated_at = turn_id, utcnow()

    def path(self, session_id: str, head_id: int | None = None) -> list[TurnRow]:
        """The turns from the first to ``head_id`` (default: the session's head), in order.

        Empty while the session has no head. Raises ``KeyError`` for an unknown session,
        ``ValueError`` for a ``head_id`` that is not a turn of this session.
        """
        with self._sessions() as s:
            head = _session_row(s, session_id).head_turn_id if head_id is None else head_id
            turns = _turns(s, session_id)
        if head is not None and head not in turns:
            raise ValueError(f"turn {head} is not a turn of session {session_id!r}")
        return _walk(turns, head)

    def branches(self, session_id: str) -> list[list[TurnRow]]:
        """The path to every leaf (a turn no other turn follows), oldest leaf first.

        The active branch is the one containing the session's head. Raises ``KeyError`` for an
        unknown session.
        """
        with self._sessions() as s:
            _session_row(s, session_id)
            turns = _turns(s, session_id)
        parents = {t.parent_id for t in turns.values()}
        leaves = sorted((t for t in turns.values() if t.id not in parents), key=lambda t: (t.created_at, t.id))
        return [_walk(turns, leaf.id) for leaf in leaves]

    # --- users ---

    def add_user(self, username: str, role: str, password_hash: str) -> None:
        """Store a user (see :mod:`actor.auth` for the hash). Raises ``ValueError`` for an
        unknown role, an empty name or a name that exists."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if not username.strip():
            raise ValueError("the user name is empty")
        with self._sessions.begin() as s:
            if s.get(UserRow, username) is not None:
                raise ValueError(f"user {username!r} exists")
            s.add(UserRow(username=username, role=role, password_hash=password_hash, created_at=utcnow()))

    def user(self, username: str) -> UserRow | None:
        """The user ``username`` (detached), ``None`` when unknown."""
        with self._sessions() as s:
            return s.get(UserRow, username)

    def users(self) -> list[UserRow]:
        """All users by name."""
        with self._sessions() as s:
            return list(s.scalars(select(UserRow).order_by(UserRow.username)))

    def set_password_hash(self, username: str, password_hash: str) -> None:
        """Replace the password hash of ``username``. Raises ``KeyError`` for an unknown user."""
        with self._sessions.begin() as s:
            row = s.get(UserRow, username)
            if row is None:
                raise KeyError(f"no user {username!r}")
            row.password_hash = password_hash

    def remove_user(self, username: str) -> None:
        """Delete the user ``username`` (their sessions stay, with their name as owner). Raises
        ``KeyError`` for an unknown user."""
        with self._sessions.begin() as s:
            row = s.get(UserRow, username)
            if row is None:
                raise KeyError(f"no user {username!r}")
            s.delete(row)

    # --- reviews ---

    def add_override(self, turn_id: int, criterion: str, verdict: str, comment: str, reviewer: str) -> int:
        """Store a reviewer's verdict on ``criterion`` of turn ``turn_id`` beside the evaluator's.
        Raises ``KeyError`` for an unknown turn, ``ValueError`` for a bad verdict or criterion."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        with self._sessions.begin() as s:
            turn = s.get(TurnRow, turn_id)
            if turn is None:
                raise KeyError(f"no turn {turn_id}")
            if turn.assessment and criterion not in turn.assessment.get("criteria", {}):
                raise ValueError(f"unknown criterion {criterion!r}")
            row = OverrideRow(turn_id=turn_id, criterion=criterion, verdict=verdict, comment=_scrub(comment),
                              reviewer=reviewer, created_at=utcnow())
            s.add(row)
            s.flush()
            return row.id

    def add_comment(self, turn_id: int, author: str, text: str) -> int:
        """A comment anchored to turn ``turn_id``. Raises ``KeyError`` for an unknown turn and
        ``ValueError`` for an empty text."""
        if not text.strip():
            raise ValueError("the comment is empty")
        with self._sessions.begin() as s:
            if s.get(TurnRow, turn_id) is None:
                raise KeyError(f"no turn {turn_id}")
            row = CommentRow(turn_id=turn_id, author=author, text=_scrub(text).strip(), created_at=utcnow())
            s.add(row)
            s.flush()
            return row.id

    def overrides(self, session_id: str) -> list[OverrideRow]:
        """Every override on the session's turns, oldest first."""
        with self._sessions() as s:
            return list(s.scalars(select(OverrideRow).join(TurnRow, OverrideRow.turn_id == TurnRow.id)
                                  .where(TurnRow.session_id == session_id).order_by(OverrideRow.created_at, OverrideRow.id)))

    def comments(self, session_id: str) -> list[CommentRow]:
        """Every comment on the session's turns, oldest first."""
        with self._sessions() as s:
            return list(s.scalars(select(CommentRow).join(TurnRow, CommentRow.turn_id == TurnRow.id)
                                  .where(TurnRow.session_id == session_id).order_by(CommentRow.created_at, CommentRow.id)))

    def import_records(self, session: dict[str, Any], turns: list[dict[str, Any]], overrides: list[dict[str, Any]],
                       comments: list[dict[str, Any]]) -> None:
        """Insert a session exactly as exported (ids, times, tree, head, overrides, comments) in one
        transaction. Raises ``ValueError`` when the session id exists."""
        with self._sessions.begin() as s:
            if s.get(SessionRow, session["id"]) is not None:
                raise ValueError(f"session {session['id']!r} exists")
            head = session.get("head_turn_id")
            s.add(SessionRow(**{k: v for k, v in session.items() if k != "head_turn_id"}))
            s.flush()
            for t in sorted(turns, key=lambda t: t["id"]):
                s.add(TurnRow(**t))
                s.flush()
            for o in overrides:
                s.add(OverrideRow(**o))
            for c in comments:
                s.add(CommentRow(**c))
            s.flush()
            s.execute(update(SessionRow).where(SessionRow.id == session["id"])
                      .values(head_turn_id=head, updated_at=session["updated_at"]))

    # --- prompt file versions ---

    def add_prompt_version(self, path: str, content: str, sha256: str, author: str) -> int:
        """Keep a saved version of the prompt file ``path`` (relative to ``prompts/``)."""
        with self._sessions.begin() as s:
            row = PromptVersionRow(path=path, content=_scrub(content), sha256=sha256, author=author, created_at=utcnow())
            s.add(row)
            s.flush()
            return row.id

    def prompt_versions(self, path: str) -> list[PromptVersionRow]:
        """The saved versions of ``path``, newest first."""
        with self._sessions() as s:
            return list(s.scalars(select(PromptVersionRow).where(PromptVersionRow.path == path)
                                  .order_by(PromptVersionRow.created_at.desc(), PromptVersionRow.id.desc())))
