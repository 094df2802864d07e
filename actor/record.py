"""One turn of a rehearsal as one record: :class:`TurnRecord`.

The same record is built by :meth:`actor.session.Session.respond`, stored and read back by the
repository (:meth:`actor.db.Database.add_record`, :meth:`actor.db.Database.records`), shown by
the trainee's page (:class:`actor.web.service.SessionView`), exported by the review workspace
(:mod:`actor.review`) and summarised by the debrief (:func:`actor.evaluator.write_debrief`). The
session's transcript and persona state are derived from its records, never kept beside them.

The move is not stored in the record: it is the judgement's (``assessment.move``). Only a turn
stored without verdicts (by an older version, or cut off between storing and judging) carries
the move stored with it, until its grading gives it an assessment.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, computed_field, model_validator

from actor.domain import Move
from actor.evaluator.assessment import TurnAssessment
from actor.persona.actor import ActorLine
from actor.persona.state import PersonaState

_MOVE = TypeAdapter(Move)
_LINE = TypeAdapter(ActorLine)


def actor_line(data: dict[str, Any]) -> ActorLine:
    """An :class:`~actor.persona.actor.ActorLine` from its plain data (``dataclasses.asdict``
    or JSON, where tuples became lists). Raises ``pydantic.ValidationError`` (a ``ValueError``)
    for missing or malformed fields."""
    return _LINE.validate_python(data)


class TurnRecord(BaseModel):
    """A completed turn: the customer's line, the trainee's reply, the persona state before and
    after, and the customer's answer (after the turn that ended the scenario, the customer's
    closing line; ``None`` only in sessions stored before closing lines existed).

    ``id``: the database id, ``None`` until the turn is stored. ``number``: 1-based position in
    its branch. ``assessment``: the judgement's verdicts and move from the moment the turn exists
    (``wording="pending"``), with the feedback worded after grading; ``None`` only for a turn
    stored without verdicts. ``seconds``: wall times of the parts (``move``, ``first_token``,
    ``actor``, ``wording``, ``turn``).

    ``model_dump(mode="json")`` gives JSON-ready data including ``move``;
    ``TurnRecord.model_validate`` reads it back (a ``move`` given as a string or as an older
    ``{"move": …, "reason": …}`` dict counts only for a turn without an assessment). Raises
    ``pydantic.ValidationError`` (a ``ValueError``) for malformed data or unknown keys.
    """

    model_config = ConfigDict(extra="forbid")

    id: int | None = None
    number: int = Field(ge=1)
    customer_line: str
    reply: str
    state_before: PersonaState
    state_after: PersonaState
    answer: ActorLine | None = None
    assessment: TurnAssessment | None = None
    seconds: dict[str, float] = Field(default_factory=dict)
    _unjudged_move: Move = PrivateAttr("neutral")

    @model_validator(mode="wrap")
    @classmethod
    def _stored_move(cls, data: Any, handler) -> "TurnRecord":
        move = None
        if isinstance(data, dict) and "move" in data:
            data = dict(data)
            move = data.pop("move")
            move = _MOVE.validate_python(move.get("move") if isinstance(move, dict) else move)
        record = handler(data)
        if move is not None and record.assessment is None:
            record._unjudged_move = move
        return record

    @computed_field  # type: ignore[prop-decorator]
    @property
    def move(self) -> Move:
        """The trainee's move as the judgement derived it from the verdicts (``assessment.move``);
        for a turn without an assessment, the move stored with it (``neutral`` when none)."""
        return self.assessment.move if self.assessment is not None else self._unjudged_move

    @property
    def needs_wording(self) -> bool:
        """Whether the feedback still has to be worded (no assessment, or ``wording="pending"``)."""
        return self.assessment is None or self.assessment.wording == "pending"
