"""The persona's state machine, as tables: move sequences → level, demand, outcome."""

from __future__ import annotations

import pytest

from actor.persona.scenario import Difficulty
from actor.persona.state import PersonaState, initial_state, next_state


def diff(kind: str = "frustration", start: int = 2, good: int = 2, step: int = 1, pressure: int = 2) -> Difficulty:
    return Difficulty(start_level=start, aggression_type=kind, good_moves_to_deescalate=good,
                      escalation_step=step, pressure_after=pressure)


def play(d: Difficulty, moves: list[str]) -> PersonaState:
    s = initial_state(d)
    for m in moves:
        if s.ended:
            break
        s = next_state(s, m, d)
    return s


@pytest.mark.parametrize(
    ("d", "moves", "level", "demand", "outcome"),
    [
        # frustration calms with acknowledgement, one level per `good` fitting moves
        (diff(), ["acknowledge", "acknowledge"], 1, "addressed", None),
        (diff(good=1), ["acknowledge"], 1, "addressed", None),
        (diff(good=1, start=1), ["acknowledge"], 0, "addressed", None),  # calm, not yet satisfied
        (diff(good=1, start=1), ["acknowledge", "acknowledge"], 0, "resolved", "resolved"),
        (diff(good=1, start=1), ["acknowledge", "neutral"], 0, "addressed", None),
        # one good line never drops more than one level, even with good=1 from L3
        (diff(good=1, start=3), ["acknowledge"], 2, "addressed", None),
        # a neutral move breaks the streak
        (diff(), ["acknowledge", "neutral", "acknowledge"], 2, "addressed", None),
        # "calm down", sarcasm, arguing raise the level by the step
        (diff(step=1), ["provoke"], 3, "raised", None),
        (diff(step=2), ["provoke"], 4, "raised", None),
        (diff(step=2, start=3), ["provoke", "provoke"], 4, "raised", None),
        # caving to a frustrated customer: no escalation, but a promise that will not hold
        (diff(), ["cave"], 2, "addressed", None),
        # instrumental: empathy alone does not help; pressure grows without a boundary
        (diff("instrumental", pressure=2), ["acknowledge", "acknowledge"], 3, "raised", None),
        (diff("instrumental", pressure=3), ["acknowledge", "neutral"], 2, "raised", None),
        # instrumental: only a clear boundary de-escalates
        (diff("instrumental", good=2), ["boundary", "boundary"], 1, "addressed", None),
        # instrumental: caving rewards the pressure, the demand grows
        (diff("instrumental"), ["cave"], 3, "escalated", None),
        (diff("white_collar"), ["cave", "cave"], 4, "escalated", None),
        # white-collar behaves like instrumental
        (diff("white_collar", good=1), ["acknowledge", "boundary"], 1, "addressed", None),
        # a threat ended correctly ends the scenario as a success
        (diff("instrumental", start=4), ["end_conversation"], 4, "raised", "success"),
        (diff("instrumental", start=3), ["provoke", "end_conversation"], 4, "raised", "success"),
        # ending below L4 is ending early
        (diff(start=1), ["end_conversation"], 1, "raised", "ended_early"),
    ],
)
def test_transitions(d, moves, level, demand, outcome):
    s = play(d, moves)
    assert (s.level, s.demand, s.outcome) == (level, demand, outcome)
    assert s.turn == len(moves)


def test_skilled_ends_lower_than_unskilled():
    for kind in ("frustration", "instrumental", "white_collar"):
        d = diff(kind, start=2)
        skilled = play(d, ["acknowledge", "boundary", "boundary", "boundary", "acknowledge"])
        unskilled = play(d, ["provoke", "cave", "neutral"])
        assert skilled.level < unskilled.level, kind


def test_boundaries_count_as_warnings_and_trust_is_bounded():
    d = diff("instrumental", good=5)
    s = play(d, ["boundary"] * 4)
    assert s.warnings == 4 and s.trust == 3
    s = play(diff(step=1, start=0), ["provoke"] * 6)
    assert s.level == 4 and s.trust == -3


def test_no_turns_after_the_end():
    d = diff(start=4, kind="instrumental")
    s = play(d, ["end_conversation"])
    with pytest.raises(ValueError, match="ended"):
        next_state(s, "acknowledge", d)


def test_scenario_files_are_valid_and_bilingual():
    from actor.knowledge import load_corpus
    from actor.persona.scenario import load_scenarios

    scenarios = load_scenarios()
    assert sorted(scenarios) == ["counter", "intimidation", "office", "phone"]
    policies = {d.meta.scenario for d in load_corpus(__import__("pathlib").Path(__file__).resolve().parents[1] / "knowledge")
                if d.meta.kind == "policy"}
    for s in scenarios.values():
        assert s.id in policies
        assert s.opening_line.nl != s.opening_line.en and len(s.opening_line.nl.split()) <= 30
        assert s.difficulties["hard"].good_moves_to_deescalate >= s.difficulties["easy"].good_moves_to_deescalate
        assert len(s.sha256) == 64


def test_a_scenario_with_an_unknown_key_is_rejected(tmp_path):
    from pathlib import Path

    from pydantic import ValidationError

    from actor.persona.scenario import load_scenario

    src = Path(__file__).resolve().parents[1] / "prompts" / "scenarios" / "counter.yaml"
    bad = tmp_path / "counter.yaml"
    bad.write_text(src.read_text() + "\nmood: grumpy\n")
    with pytest.raises(ValidationError, match="mood"):
        load_scenario(bad)
