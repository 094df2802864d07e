"""The persona's state and how the trainee's replies change it (pure functions).

The customer has a **level** (escalation L0–L4: how aroused) and a **concern** (what they are
after and what has happened to it). The two move separately. :func:`next_state` takes the turn's
:class:`TurnSignals` — the trainee's move as judged by the evaluator side, whether the reply put a
concrete next step on the table, whether it stayed within the scenario's policy, and which hidden
facts it uncovered — and the difficulty, and follows the domain model of the product brief:

Level
- Frustration calms when the trainee acknowledges, explores or brings substance (a hidden fact
  uncovered, a next step within policy): after ``good_moves_to_deescalate`` fitting replies in a
  row the level drops by one. One good line never drops more than one level.
- Instrumental and white-collar pressure does not yield to empathy or substance: only a clear
  boundary counts as fitting; without one, the customer pushes a level up every
  ``pressure_after`` turns.
- "Calm down", sarcasm, counter-attacks and arguing raise the level by ``escalation_step``.
- Caving (or any offer outside policy) rewards the pressure: for instrumental and white-collar
  customers the demand grows (``demand="escalated"``) and the level goes up; a frustrated customer
  takes the promise, which will not hold (trust drops).

Concern
- ``facts``: hidden facts uncovered so far (indices into the scenario's ``hidden_facts``);
  ``offer``: the offer on the table (``none``, ``within`` policy, ``outside`` policy);
  ``next_step``: a concrete next step within policy stands; ``heard``: the customer has been
  acknowledged at least once; ``boundary``: ``none``, ``set`` (the customer will test it) or
  ``held`` (repeated after the customer tested it); ``boundary_tests``: customer lines that tested
  a boundary.
- The concern is *addressed* (:attr:`PersonaState.addressed`) when at least one hidden fact is
  uncovered and a within-policy offer with a next step stands; ``demand`` becomes ``addressed``
  then (for instrumental and white-collar customers once their boundary also holds).
  Acknowledgement never addresses it.
- The scenario *resolves* (``outcome="resolved"``) only when the concern is addressed, the reply
  is not a provocation or a concession, and the customer is calm enough: a frustrated customer
  at L0–L1 who was heard in an earlier reply (one reply that acknowledges, finds the parcel and
  agrees the next step is news to take in, not yet a settled customer); an instrumental or white-collar customer at L0–L2 whose boundary
  has been tested at least once and held.
- A threat (L4) ended correctly by the trainee ends the scenario as a success; ending the
  conversation below L4 ends it early.

``changes`` records what the reply changed (codes such as ``fact:0``, ``heard``, ``next_step``,
``outside_policy``, ``boundary_set``, ``boundary_held``, ``provoked``, ``no_progress``); the
actor turns them into a stage direction for the customer's next line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from actor.domain import Move
from actor.persona.scenario import Difficulty

DemandStatus = Literal["raised", "addressed", "resolved", "escalated"]
Outcome = Literal["success", "ended_early", "resolved"]
Offer = Literal["none", "within", "outside"]
Boundary = Literal["none", "set", "held"]
PRESSURED = ("instrumental", "white_collar")
RESOLVE_AT = {"frustration": 1, "instrumental": 2, "white_collar": 2}  # highest level at which the customer accepts


@dataclass(frozen=True)
class TurnSignals:
    """What the trainee's reply did, as the state machine needs it.

    ``move``: the judged move (``acknowledge``, ``boundary``, ``cave``, ``provoke``,
    ``end_conversation``, ``neutral``); ``next_step``: the reply puts a concrete next step on the
    table; ``within_policy``: nothing in the reply goes beyond the scenario's policy (``False``
    counts as a concession whatever the move); ``facts_found``: indices of the scenario's hidden
    facts the reply asks about or states.
    """

    move: Move
    next_step: bool = False
    within_policy: bool = True
    facts_found: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class PersonaState:
    """The customer's state after a number of turns (immutable; every transition makes a new one).

    ``trust`` runs from -3 (none) to 3; ``streak`` counts fitting replies in a row; ``pressure``
    counts turns without a boundary (instrumental and white-collar only); ``outcome`` is set when
    the scenario has ended. The concern fields are described in the module docstring; tuples
    given as lists (from JSON) are stored as tuples.
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
    facts: tuple[int, ...] = ()
    offer: Offer = "none"
    next_step: bool = False
    heard: bool = False
    boundary: Boundary = "none"
    boundary_tests: int = 0
    changes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "facts", tuple(sorted(set(self.facts))))
        object.__setattr__(self, "changes", tuple(self.changes))

    @property
    def ended(self) -> bool:
        return self.outcome is not None

    @property
    def pressured(self) -> bool:
        """Instrumental or white-collar: only boundaries slow the customer down."""
        return self.aggression_type in PRESSURED

    @property
    def addressed(self) -> bool:
        """The concern is addressed within policy: a hidden fact uncovered and a next step offered."""
        return bool(self.facts) and self.offer == "within" and self.next_step


def initial_state(difficulty: Difficulty) -> PersonaState:
    """The state of the opening line."""
    return PersonaState(level=difficulty.start_level, aggression_type=difficulty.aggression_type)


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


def next_state(state: PersonaState, signals: TurnSignals | str, difficulty: Difficulty) -> PersonaState:
    """The state after the trainee's reply. ``signals``: the turn's :class:`TurnSignals` (a bare
    move string means that move with no other signal). Raises ``ValueError`` when the scenario
    has ended."""
    if state.ended:
        raise ValueError("the scenario has ended; no further turns")
    sig = TurnSignals(signals) if isinstance(signals, str) else signals
    move = sig.move
    new_facts = sorted(i for i in sig.facts_found if i >= 0 and i not in state.facts)
    changes = [f"fact:{i}" for i in new_facts]
    s = replace(state, turn=state.turn + 1, facts=state.facts + tuple(new_facts), changes=())
    # the customer's last line tested a boundary that had just been set
    if s.boundary == "set":
        s = replace(s, boundary_tests=s.boundary_tests + 1)

    def done(st: PersonaState) -> PersonaState:
        demand = st.demand
        if st.addressed and demand in ("raised", "escalated") and (not st.pressured or st.boundary == "held"):
            demand = "addressed"
        elif not st.addressed and demand == "addressed":
            demand = "raised"
        return replace(st, demand=demand, changes=tuple(changes))

    if move == "end_conversation":
        return done(replace(s, outcome="success" if s.level == 4 else "ended_early"))

    if move == "provoke":
        changes.append("provoked")
        return done(replace(s, level=_clamp(s.level + difficulty.escalation_step, 0, 4), trust=_clamp(s.trust - 1, -3, 3),
                            streak=0, pressure=0))

    if move == "cave" or not sig.within_policy:
        changes.append("outside_policy")
        s = replace(s, offer="outside", next_step=False, streak=0)
        if s.pressured:  # rewarded pressure: the demand grows, the boundary is gone
            return done(replace(s, level=_clamp(s.level + 1, 0, 4), demand="escalated", pressure=0, boundary="none"))
        return done(replace(s, trust=_clamp(s.trust - 1, -3, 3)))

    if move == "boundary":
        s = replace(s, warnings=s.warnings + 1)
        if s.boundary == "set" and s.boundary_tests >= 1:
            s = replace(s, boundary="held")
            changes.append("boundary_held")
        elif s.boundary == "none":
            s = replace(s, boundary="set")
            changes.append("boundary_set")
    if move == "acknowledge" and not s.heard:
        changes.append("heard")
    if move == "acknowledge":
        s = replace(s, heard=True)
    if sig.next_step:
        s = replace(s, offer="within", next_step=True)
        changes.append("next_step")
    substance = bool(new_facts) or sig.next_step
    if not substance and move in ("acknowledge", "neutral") and state.heard and not s.addressed:
        changes.append("no_progress")

    fitting = move == "boundary" if s.pressured else (move in ("acknowledge", "boundary") or substance)
    level_before = s.level
    if fitting:
        streak = s.streak + 1
        s = replace(s, trust=_clamp(s.trust + 1, -3, 3), pressure=0)
        if streak >= difficulty.good_moves_to_deescalate and s.level > 0:
            s = replace(s, level=s.level - 1, streak=0)  # never more than one level per line
        else:
            s = replace(s, streak=streak)
    elif s.pressured:  # acknowledgement, substance or nothing: the pressure builds up
        pressure = s.pressure + 1
        if pressure >= difficulty.pressure_after:
            s = replace(s, level=_clamp(s.level + 1, 0, 4), pressure=0, streak=0)
        else:
            s = replace(s, pressure=pressure)
    else:
        s = replace(s, streak=0)
    if _accepts(replace(s, level=max(level_before, s.level), heard=state.heard)):  # calm and heard before this reply
        return replace(done(s), demand="resolved", outcome="resolved")
    return done(s)


def _accepts(s: PersonaState) -> bool:
    """Whether the customer accepts the solution now (see the module docstring)."""
    if not s.addressed or s.trust < 0 or s.level > RESOLVE_AT.get(s.aggression_type, 0):
        return False
    if s.pressured:
        return s.boundary == "held"
    return s.heard
