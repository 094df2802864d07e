"""A whole rehearsal with fake models: turns, state, refusal of bad input, end by success."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from actor.evaluator import Grader
from actor.persona.actor import Actor
from actor.session import MAX_REPLY_CHARS, Session
from test_persona_actor import SCENARIO, FakeRetriever

L1 = ["stays_calm", "acknowledges_emotion", "listens_and_explores", "takes_control", "no_false_promises"]


def joint(verdicts: dict[str, str]) -> str:
    return json.dumps({**{c: {"reason": "r", "evidence": "", "verdict": v} for c, v in verdicts.items()}, "tone": 3, "tip": "t"})


def make(grades: list[str], lines: list[str]) -> Session:
    grader = Grader(FakeListChatModel(responses=grades), "fake", mode="joint")
    actor = Actor(FakeListChatModel(responses=lines), SCENARIO, "nl", FakeRetriever())
    return Session(SCENARIO, "easy", "nl", actor, grader)


def test_a_good_turn_calms_the_customer_and_a_provocation_escalates():
    s = make([joint({c: "pass" for c in L1}), joint({c: "pass" for c in L1})],
             ["Nou goed, wat gaat u er dan aan doen?", "Dat wil ik wel eens zien."])
    assert s.history[0].text == "Derde keer dat ik hier sta!" and s.state.level == 1
    t1 = s.turn("Drie keer, wat vervelend. Wat is er precies misgegaan?")
    assert t1.assessment.move == "acknowledge" and t1.state_after.level == 0
    assert t1.answer is None or t1.answer.text
    assert s.ended and s.state.outcome == "resolved"
    with pytest.raises(ValueError, match="ended"):
        s.turn("Nog iets?")


def test_provocation_escalates_and_everything_is_recorded():
    s = make([joint({c: "pass" for c in L1})], ["Wat zei je daar? Rustig aan? Ik?"])
    t = s.turn("Rustig aan meneer.")
    assert t.assessment.move == "provoke" and t.state_after.level == 2
    assert t.answer.path == "model" and s.history[-1].text == "Wat zei je daar? Rustig aan? Ik?"
    data = json.loads(json.dumps(s.to_dict()))
    assert data["turns"][0]["assessment"]["criteria"]["stays_calm"]["verdict"] == "fail"
    assert data["turns"][0]["answer"]["path"] == "model" and data["final_level"] == 2


def test_bad_input_is_refused_and_changes_nothing():
    s = make([joint({c: "pass" for c in L1})], ["x"])
    with pytest.raises(ValueError, match="empty"):
        s.turn("   ")
    with pytest.raises(ValueError, match="too long"):
        s.turn("a" * (MAX_REPLY_CHARS + 1))
    assert s.turns == [] and len(s.history) == 1 and s.state.turn == 0
