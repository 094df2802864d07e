"""The persona's state and how the trainee's moves change it (pure functions).

State per session: escalation level L0–L4, aggression type, demand status, warnings received,
trust, and the run of fitting moves. :func:`next_state` takes the trainee's move as classified
by the evaluator (:func:`actor.evaluator.assessment.classify_move`) and the difficulty, and
follows the domain model of the product brief:

- Frustration aggression calms when the trainee acknowledges and explores: after
  ``good_moves_to_deescalate`` fitting moves in a row the level drops by one.
- Instrumental and white-collar pressure does not yield to empathy alone: only a clear boundary
  counts as a fitting move; without one, the customer pushes a level up every
  ``pressure_after`` turns.
- Caving rewards the pressure: for instrumental and white-collar customers the demand grows
  (status ``escalated``) and the level goes up; a frustrated customer gets a promise that will
  not hold (trust drops).
- "Calm down", sarcasm, counter-attacks and arguing raise the level by ``escalation_step``.
- One good line never drops more than one level.
- The customer is satisfied (outcome ``resolved``) only after one more fitting move once calm
  (L0): calming down is not yet accepting the solution.
- A threat (L4) ended correctly by the trainee ends the scenario as a success; ending the
  conversation below L4 ends it early.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from actor.evaluator.assessment import Move
from actor.persona.scenario import Difficulty

DemandStatus = Literal["raised", "addressed", "resolved", "escalated"]
Outcome = Literal["success", "ended_early", "resolved"]


@dataclass(frozen=True)
class PersonaState:
    """The customer's state after a number of turns (immutable; every transition makes a new one).

    ``trust`` runs from -3 (none) to 3; ``streak`` counts fitting moves in a row; ``pressure``
    counts turns without a boundary (instrumental and white-collar only); ``outcome`` is set
    when the scenario has ended.
    """

    level: int
    aggression_type: str
    demand: DemandStatus = "raised"
    warnings: int = 0
    trust: int = 0
    streak: int = 0
    pressure: int = 0
    turn: int = 0
    outcome: Outcome | None = None

    @property
    def ended(self) -> bool:
        return self.outcome is not None


def initial_state(difficulty: Difficulty) -> PersonaState:
    """The state of the opening line."""
    return PersonaState(level=difficulty.start_level, aggression_type=difficulty.aggression_type)


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


def next_state(state: PersonaState, move: Move, difficulty: Difficulty) -> PersonaState:
    """The state after the trainee's ``move``. Raises ``ValueError`` when the scenario has ended."""
    if state.ended:
        raise ValueError("the scenario has ended; no further turns")
    s = replace(state, turn=state.turn + 1)
    pressured = s.aggression_type in ("instrumental", "white_collar")

    if move == "end_conversation":
        return replace(s, outcome="success" if s.level == 4 else "ended_early")

    if move == "provoke":
        return replace(
            s, level=_clamp(s.level + difficulty.escalation_step, 0, 4), trust=_clamp(s.trust - 1, -3, 3),
            streak=0, pressure=0,
        )

    if move == "cave":
        if pressured:  # rewarded pressure: the demand grows
            return replace(s, level=_clamp(s.level + 1, 0, 4), demand="escalated", streak=0, pressure=0)
        return replace(s, demand="addressed", trust=_clamp(s.trust - 1, -3, 3), streak=0)

    fitting = move == "boundary" if pressured else move in ("acknowledge", "boundary")
    if move == "boundary":
        s = replace(s, warnings=s.warnings + 1)
    if fitting:
        streak = s.streak + 1
        calm_before = s.level == 0
        demand = "addressed" if s.demand == "raised" else s.demand
        s = replace(s, trust=_clamp(s.trust + 1, -3, 3), demand=demand, pressure=0)
        if calm_before and s.demand == "addressed" and s.trust > 0:
            return replace(s, demand="resolved", outcome="resolved", streak=streak)
        if streak >= difficulty.good_moves_to_deescalate and s.level > 0:
            s = replace(s, level=s.level - 1, streak=0)  # never more than one level per line
        else:
            s = replace(s, streak=streak)
        return s

    # acknowledge (for instrumental / white-collar) or neutral: no progress
    if pressured:
        pressure = s.pressure + 1
        if pressure >= difficulty.pressure_after:
            return replace(s, level=_clamp(s.level + 1, 0, 4), pressure=0, streak=0)
        return replace(s, pressure=pressure)
    return replace(s, streak=0)
