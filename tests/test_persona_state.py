"""The persona's state machine, as tables: move sequences → level, demand, outcome."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from actor.persona.scenario import Difficulty
from actor.persona.state import PersonaState, TurnSignals, initial_state, next_state


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
        (diff(), ["acknowledge", "acknowledge"], 1, "raised", None),
        (diff(good=1), ["acknowledge"], 1, "raised", None),
        (diff(good=1, start=1), ["acknowledge"], 0, "raised", None),  # calm, not yet satisfied
        # acknowledgement alone never resolves the scenario, however calm the customer is
        (diff(good=1, start=1), ["acknowledge"] * 6, 0, "raised", None),
        (diff(good=1, start=1), ["acknowledge", "neutral"], 0, "raised", None),
        # one good line never drops more than one level, even with good=1 from L3
        (diff(good=1, start=3), ["acknowledge"], 2, "raised", None),
        # a neutral move breaks the streak
        (diff(), ["acknowledge", "neutral", "acknowledge"], 2, "raised", None),
        # "calm down", sarcasm, arguing raise the level by the step
        (diff(step=1), ["provoke"], 3, "raised", None),
        (diff(step=2), ["provoke"], 4, "raised", None),
        (diff(step=2, start=3), ["provoke", "provoke"], 4, "raised", None),
        # caving to a frustrated customer: no escalation, a promise outside policy that will not hold
        (diff(), ["cave"], 2, "raised", None),
        # instrumental: empathy alone does not help; pressure grows without a boundary
        (diff("instrumental", pressure=2), ["acknowledge", "acknowledge"], 3, "raised", None),
        (diff("instrumental", pressure=3), ["acknowledge", "neutral"], 2, "raised", None),
        # instrumental: only a clear boundary de-escalates (set, tested, held), but it addresses nothing
        (diff("instrumental", good=2), ["boundary", "boundary"], 1, "raised", None),
        # instrumental: caving rewards the pressure, the demand grows
        (diff("instrumental"), ["cave"], 3, "escalated", None),
        (diff("white_collar"), ["cave", "cave"], 4, "escalated", None),
        # white-collar behaves like instrumental
        (diff("white_collar", good=1), ["acknowledge", "boundary"], 1, "raised", None),
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


def sig(move: str = "neutral", step: bool = False, within: bool = True, facts=()) -> TurnSignals:
    return TurnSignals(move, next_step=step, within_policy=within, facts_found=frozenset(facts))


ACK, NEUTRAL, BOUNDARY = sig("acknowledge"), sig(), sig("boundary")
FOUND = sig("acknowledge", facts={0})  # acknowledges and uncovers hidden fact 0
OFFER = sig(step=True)  # a concrete next step within policy


@pytest.mark.parametrize(
    ("d", "turns", "want"),
    [
        # friendly but never addressing the problem: calm, heard, never resolved
        (diff(good=1, start=1), [ACK] * 6, dict(level=0, heard=True, demand="raised", outcome=None, changes=("no_progress",))),
        # frustration: heard + a hidden fact + a next step within policy resolves
        (diff(good=1, start=1), [FOUND, OFFER], dict(facts=(0,), offer="within", next_step=True, demand="resolved", outcome="resolved")),
        # everything in the first reply: addressed, but the customer was not heard before it; the next reply settles it
        (diff(good=1, start=1), [sig("acknowledge", step=True, facts={0})], dict(heard=True, demand="addressed", outcome=None)),
        (diff(good=1, start=1), [sig("acknowledge", step=True, facts={0}), NEUTRAL], dict(outcome="resolved")),
        # a next step without any hidden fact uncovered does not address the concern
        (diff(good=1, start=1), [ACK, OFFER], dict(facts=(), demand="raised", outcome=None)),
        # a hidden fact without a next step neither
        (diff(good=1, start=1), [FOUND, ACK, ACK], dict(facts=(0,), demand="raised", outcome=None)),
        # substance without ever being heard does not satisfy a frustrated customer
        (diff(good=1, start=1), [sig(facts={0}), OFFER], dict(heard=False, demand="addressed", outcome=None)),
        # an offer outside policy: on the table, not resolving, trust drops
        (diff(good=1, start=1), [FOUND, sig(step=True, within=False)],
         dict(offer="outside", next_step=False, demand="raised", outcome=None, trust=0, changes=("outside_policy",))),
        # ... until a within-policy next step replaces it
        (diff(good=1, start=1), [FOUND, sig(step=True, within=False), OFFER, ACK], dict(offer="within", outcome="resolved")),
        # addressed while still furious: the customer first has to calm down (L1 before the reply)
        (diff(good=1, start=3), [sig("acknowledge", step=True, facts={0})], dict(level=2, demand="addressed", outcome=None)),
        (diff(good=1, start=3), [sig("acknowledge", step=True, facts={0}), ACK], dict(level=1, outcome=None)),
        (diff(good=1, start=3), [sig("acknowledge", step=True, facts={0}), ACK, ACK], dict(outcome="resolved")),
        # instrumental: substance and a boundary, but the boundary must be tested once more and held
        (diff("instrumental", good=1), [sig("boundary", step=True, facts={0})],
         dict(level=1, boundary="set", demand="raised", outcome=None, changes=("fact:0", "boundary_set", "next_step"))),
        (diff("instrumental", good=1), [sig("boundary", step=True, facts={0}), BOUNDARY],
         dict(boundary="held", boundary_tests=1, outcome="resolved")),
        (diff("white_collar", good=1), [sig("boundary", step=True, facts={0}), BOUNDARY], dict(outcome="resolved")),
        # instrumental: acknowledgement and substance without a boundary do not resolve; pressure builds
        (diff("instrumental", good=1, pressure=2), [sig("acknowledge", step=True, facts={0}), ACK],
         dict(level=3, boundary="none", outcome=None)),
        # instrumental: caving after a boundary undoes it and grows the demand
        (diff("instrumental", good=1), [BOUNDARY, sig("cave")], dict(boundary="none", demand="escalated", offer="outside", level=2)),
        (diff("instrumental", good=1), [BOUNDARY, sig("cave"), BOUNDARY], dict(boundary="set", demand="escalated")),
        # a provocation that uncovers a fact: the fact counts, the level still rises
        (diff(step=1), [sig("provoke", facts={1})], dict(level=3, facts=(1,), changes=("fact:1", "provoked"))),
        # facts are announced once; unknown indices are ignored
        (diff(), [sig(facts={0}), sig(facts={0, 2, -1})], dict(facts=(0, 2), changes=("fact:2",))),
        # the first acknowledgement is news, the next ones without substance are not progress
        (diff(good=3), [ACK], dict(heard=True, changes=("heard",))),
        (diff(good=3), [ACK, ACK], dict(changes=("no_progress",))),
    ],
)
def test_concern_transitions(d, turns, want):
    s = play(d, turns)
    assert {k: getattr(s, k) for k in want} == want


def test_a_bare_move_is_a_move_without_other_signals():
    d = diff("instrumental", good=1)
    assert next_state(initial_state(d), "boundary", d) == next_state(initial_state(d), TurnSignals("boundary"), d)


def test_the_state_survives_json():
    import json
    from dataclasses import asdict

    s = play(diff("instrumental", good=1), [sig("boundary", step=True, facts={0, 2})])
    assert PersonaState(**json.loads(json.dumps(asdict(s)))) == s
    old = {"level": 2, "aggression_type": "frustration", "demand": "addressed", "warnings": 0, "trust": 1, "streak": 0,
           "pressure": 0, "turn": 3, "outcome": None}  # a record stored before the concern existed
    assert PersonaState(**old).facts == () and PersonaState(**old).boundary == "none"


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

    from actor.persona.scenario import load_scenario
    from actor.prompt_files import PromptFileError

    src = Path(__file__).resolve().parents[1] / "prompts" / "scenarios" / "counter.yaml"
    bad = tmp_path / "counter.yaml"
    bad.write_text(src.read_text() + "\nmood: grumpy\n")
    with pytest.raises(PromptFileError, match="mood"):
        load_scenario(bad)
    (tmp_path / "other.yaml").write_text(src.read_text())
    with pytest.raises(PromptFileError, match="the file name"):  # an id must match its file
        load_scenario(tmp_path / "other.yaml")
    src_data = yaml.safe_load(src.read_text())
    (tmp_path / "hashed.yaml").write_text(yaml.safe_dump({**src_data, "sha256": "0" * 64}))
    with pytest.raises(PromptFileError, match="sha256"):  # the hash is the loader's, never the file's
        load_scenario(tmp_path / "hashed.yaml")
    assert load_scenario(src).sha256 == hashlib.sha256(src.read_bytes()).hexdigest()


def test_the_state_machine_loads_without_the_judgement_or_the_model_stack():
    """The persona imports the shared vocabulary (actor.domain), never the evaluator."""
    import subprocess
    import sys

    code = ("import sys, actor.persona.state, actor.persona.scenario, actor.persona.actor; "
            "print(sorted(m for m in sys.modules if m.startswith(('actor.evaluator', 'actor.judgement', 'llama_cpp'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
