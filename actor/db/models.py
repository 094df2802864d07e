"""Declarative models of a stored rehearsal: one :class:`SessionRow` and its :class:`TurnRow`\\ s.

Turns form a tree: every turn points to the turn it follows (``parent_id``; ``None`` for a reply
to the opening line). Retrying from an earlier turn starts a new branch and leaves the old turns
in place; the session's ``head_turn_id`` is the last turn of the active branch.

A turn row is one :class:`~actor.record.TurnRecord` (mapped by
:func:`actor.db.repository.record_columns` / :func:`~actor.db.repository.row_record`); its JSON
columns hold the record's plain data (persona states and customer lines as dicts, the
assessment's ``model_dump()``).
The schema is created by the migrations in :mod:`actor.db.migrations`, never by ``create_all``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

MODES = ("practice", "assessment")
STATUSES = ("active", "paused", "ended", "stopped")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A new session id: 32 lowercase hex digits (a random UUID4)."""
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC.

    Binds refuse naive datetimes and convert aware ones to UTC; results are always aware (SQLite
    keeps no offset, so its values are read back as UTC).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base; constraint and index names follow :data:`NAMING_CONVENTION`."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class SessionRow(Base):
    """One rehearsal (table ``sessions``).

    ``id``: 32 hex digits. ``created_at`` / ``updated_at``: aware UTC datetimes. ``owner``: the
    user name, ``None`` for an anonymous session. ``lang``: ``nl`` or ``en``. ``mode``: one of
    :data:`MODES`; ``pass_mark``: the score needed to pass in assessment mode (``None`` in
    practice). ``status``: one of :data:`STATUSES`; ``outcome``: the persona's final outcome
    (e.g. ``resolved``), ``None`` while running. ``head_turn_id``: the last turn of the active
    branch, ``None`` while only the opening line exists. ``opening``: the customer's opening line
    (an ``ActorLine`` as a dict); ``policy``: the policy facts given to the grader (list of str).
    ``debrief`` / ``debrief_markdown``: the end-of-session summary as data and as Markdown.
    ``prompt_sha256`` / ``scenario_sha256``: hex digests of the prompts and scenario used.
    """

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    owner: Mapped[str | None] = mapped_column(String(128), index=True)
    scenario: Mapped[str] = mapped_column(String(64))
    difficulty: Mapped[str] = mapped_column(String(16))
    lang: Mapped[str] = mapped_column(String(2))
    mode: Mapped[str] = mapped_column(String(16), default="practice")
    pass_mark: Mapped[float | None] = mapped_column(Double)
    show_feedback: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    outcome: Mapped[str | None] = mapped_column(String(32))
    head_turn_id: Mapped[int | None] = mapped_column(
        ForeignKey("turns.id", use_alter=True, ondelete="SET NULL"))
    opening: Mapped[dict[str, Any]] = mapped_column(JSON)
    policy: Mapped[list[str]] = mapped_column(JSON, default=list)
    reflection: Mapped[str | None] = mapped_column(Text)
    debrief: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    debrief_markdown: Mapped[str | None] = mapped_column(Text)
    prompt_sha256: Mapped[str | None] = mapped_column(String(64))
    scenario_sha256: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"SessionRow(id={self.id!r}, scenario={self.scenario!r}, status={self.status!r})"


class TurnRow(Base):
    """One completed turn (table ``turns``): the customer's line and the trainee's reply to it.

    ``parent_id``: the turn this one follows, ``None`` for the reply to the opening line.
    ``number``: 1-based position in its branch. ``move``: the move of a turn stored without an
    assessment (``None`` otherwise: the move is the assessment's, stored once).
    ``state_before`` / ``state_after``: persona states as dicts. ``answer``: the customer's answer
    (an ``ActorLine`` as a dict), ``None`` when the scenario ended with this turn.
    ``assessment``: the grade (``TurnAssessment.model_dump()``), ``None`` until graded, with
    ``graded_at`` set then. ``seconds``: wall time per step in seconds, e.g. ``{"grade": 1.2}``.
    """

    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    customer_line: Mapped[str] = mapped_column(Text)
    reply: Mapped[str] = mapped_column(Text)
    move: Mapped[str | None] = mapped_column(String(32))
    state_before: Mapped[dict[str, Any]] = mapped_column(JSON)
    state_after: Mapped[dict[str, Any]] = mapped_column(JSON)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    assessment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    seconds: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    graded_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"TurnRow(id={self.id!r}, session_id={self.session_id!r}, number={self.number!r})"


ROLES = ("trainee", "trainer", "reviewer")
VERDICTS = ("pass", "fail", "n/a")


class UserRow(Base):
    """A user who can log in (table ``users``): ``role`` is one of :data:`ROLES`;
    ``password_hash`` is ``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>`` (see :mod:`actor.auth`)."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OverrideRow(Base):
    """A reviewer's verdict on one criterion of one turn (table ``overrides``), kept beside the
    evaluator's verdict (which is never changed); the newest override of a (turn, criterion)
    counts. ``verdict`` is one of :data:`VERDICTS`."""

    __tablename__ = "overrides"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    criterion: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str] = mapped_column(Text, default="")
    reviewer: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommentRow(Base):
    """A reviewer's or trainer's comment anchored to one turn (table ``comments``)."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PromptVersionRow(Base):
    """One saved version of a prompt, persona, scenario or rubric file (table
    ``prompt_versions``): ``path`` relative to ``prompts/``, the content and its sha256 (the hash
    stored with every turn that used it), who saved it and when."""

    __tablename__ = "prompt_versions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(String(256), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
