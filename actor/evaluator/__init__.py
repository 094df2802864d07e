"""The evaluator: grades every trainee reply against the rubric and writes the debrief.

``Grader.grade(GradeRequest) -> TurnAssessment`` (per turn) and
``write_debrief(...) -> Debrief`` (per session). The rubric is data (``prompts/rubric.yaml``);
deterministic checks in :mod:`actor.evaluator.rules` sanity-check the model.
"""

from actor.evaluator.assessment import CriterionResult, Debrief, TurnAssessment, classify_move
from actor.evaluator.debrief import write_debrief
from actor.evaluator.grader import GradeRequest, Grader, ToneJudge
from actor.evaluator.move import MoveJudge, MoveJudgement
from actor.evaluator.rubric import CRITERIA, Rubric, applicable, default_rubric, load_rubric

__all__ = [
    "CRITERIA",
    "CriterionResult",
    "Debrief",
    "GradeRequest",
    "Grader",
    "MoveJudge",
    "MoveJudgement",
    "Rubric",
    "ToneJudge",
    "TurnAssessment",
    "applicable",
    "classify_move",
    "default_rubric",
    "load_rubric",
    "write_debrief",
]
