"""What the judgement of a turn is made of, and the debrief of a session.

The rubric (data: ``prompts/rubric.yaml``), one turn as the judgement reads it
(:class:`GradeRequest`), its result (:class:`TurnAssessment`: one :class:`CriterionResult` per
rubric criterion and the move derived from the verdicts, :func:`classify_move`), the
deterministic wording checks (:mod:`actor.evaluator.rules`) and ``write_debrief(...) ->
Debrief`` per session. :mod:`actor.judgement` judges every turn with them.
"""

from actor.evaluator.assessment import CriterionResult, Debrief, TurnAssessment, classify_move
from actor.evaluator.debrief import write_debrief
from actor.evaluator.request import GradeRequest
from actor.evaluator.rubric import CRITERIA, Rubric, applicable, default_rubric, load_rubric

__all__ = [
    "CRITERIA",
    "CriterionResult",
    "Debrief",
    "GradeRequest",
    "Rubric",
    "TurnAssessment",
    "applicable",
    "classify_move",
    "default_rubric",
    "load_rubric",
    "write_debrief",
]
