"""The better phrasing from the labelled bank: a worked example of this scenario and language that
passes what the reply missed, judged by the same judge, never given twice in a session; none for
a scenario without bank rows (the model or the rubric words it then)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from actor.evaluator.request import GradeRequest
from actor.judgement.bank import derive_move
from actor.judgement.tips import BankTips
from actor.judgement.wording import Writer
from actor.persona.actor import Actor
from actor.session import Session
from fakejudge import GOOD, NEUTRAL, fake_judge, tiny_bank
from test_persona_actor import SCENARIO, FakeRetriever

CUSTOMER = "Derde keer dat ik hier sta!"


def judge_with_tips(rows=None):
    rows = rows or tiny_bank()
    judge = fake_judge(rows=rows)
    judge.tips = BankTips(rows)
    return judge


def request(reply: str = NEUTRAL, scenario_id: str = "counter", **kw) -> GradeRequest:
    return GradeRequest(lang="nl", customer_line=CUSTOMER, reply=reply, level=1, tactic="vent", scenario_id=scenario_id, **kw)


def test_only_rows_that_fail_nothing_and_pass_a_missed_criterion_are_candidates():
    rows = tiny_bank()
    tips = BankTips(rows)
    embed = fake_judge(rows=rows).featurizer.embed
    found = tips.candidates("counter", "nl", CUSTOMER, 1, "vent", ["acknowledges_emotion"], ["stays_calm"], embed)
    by_text = {r.trainee: r for r in rows if r.scenario == "counter"}
    assert found and all(t in by_text for t in found)
    assert all(by_text[t].labels["acknowledges_emotion"] == 1 and 0 not in by_text[t].labels.values() for t in found)
    assert set(found) == {t for t in GOOD if by_text[t].lang == "nl"}
    # nothing failed, an unknown scenario, or every example already given: no candidate
    assert tips.candidates("counter", "nl", CUSTOMER, 1, "vent", [], ["stays_calm"], embed) == []
    assert tips.candidates("office", "nl", CUSTOMER, 1, "vent", ["acknowledges_emotion"], [], embed) == []
    given = [f"Bijvoorbeeld: “{t}”" for t in found]
    assert tips.candidates("counter", "nl", CUSTOMER, 1, "vent", ["acknowledges_emotion"], [], embed, avoid=given) == []


def test_candidates_are_ranked_by_the_customer_line_they_answer():
    rows = tiny_bank()
    other = rows[0].model_copy(update={"id": "counter-x", "customer": "Waarom is mijn factuur zo hoog?",
                                        "trainee": "Wat vervelend, welk bedrag ziet u?"})
    rows = [other, *rows]
    tips = BankTips(rows)
    embed = fake_judge(rows=rows).featurizer.embed
    first = tips.candidates("counter", "nl", "Waarom is mijn factuur zo hoog?", 1, "vent", ["acknowledges_emotion"], [], embed)[0]
    assert first == other.trainee
    first = tips.candidates("counter", "nl", CUSTOMER, 1, "vent", ["acknowledges_emotion"], [], embed)[0]
    assert first != other.trainee


def test_the_judge_gives_a_worked_example_with_the_verdicts_and_it_passes_what_the_reply_missed():
    judge = judge_with_tips()
    req = request()
    a = judge.verdicts(req)
    failed = [c for c, r in a.criteria.items() if r.verdict == "fail" and not r.unsure]
    assert "acknowledges_emotion" in failed
    worded = judge.reasons(req, a)
    assert worded.wording == "bank" and worded.tip.startswith("Bijvoorbeeld: “") and worded.verdicts() == a.verdicts()
    example = worded.tip.removeprefix("Bijvoorbeeld: “").removesuffix("”")
    assert example in GOOD
    own = judge.verdicts(replace(req, reply=example)).verdicts()
    assert "fail" not in own.values() and any(own[c] == "pass" for c in failed)
    assert all(worded.criteria[c].reason for c in failed)  # the reasons are there too


def test_no_worked_example_for_a_scenario_without_bank_rows_or_a_reply_that_missed_nothing():
    judge = judge_with_tips()
    a = judge.verdicts(request(scenario_id="office"))
    assert judge.reasons(request(scenario_id="office"), a).wording == "pending"
    assert judge.bank_tip(request(scenario_id=""), judge.verdicts(request(scenario_id=""))) is None
    good = request(reply=GOOD[0])
    g = judge.verdicts(good)
    assert not [c for c, r in g.criteria.items() if r.verdict == "fail"]
    assert judge.bank_tip(good, g) is None


def test_a_session_never_gives_the_same_worked_example_twice_and_asks_no_model_for_it():
    judge = judge_with_tips()
    customer = SCENARIO
    lines = ["Nou, en?", "Dat zei u net ook al.", "Ik wacht nog steeds.", "Schiet eens op."]
    actor = Actor(FakeListChatModel(responses=lines), customer, "nl", FakeRetriever())
    model = FakeListChatModel(responses=['{"better": "Wat vervelend voor u."}'])
    session = Session(customer, "easy", "nl", actor, judge, writer=Writer(model))
    tips = []
    for _ in range(3):
        turn = session.turn(NEUTRAL)
        assert turn.assessment.wording == "bank" and not turn.needs_wording
        tips.append(turn.assessment.tip)
    assert len(set(tips)) == 3, tips
    assert model.i == 0  # the wording model was never asked


@pytest.mark.slow
def test_the_shipped_bank_gives_a_dutch_worked_example_for_a_flat_reply_at_the_counter():
    from actor.embeddings import E5Embeddings
    from actor.judgement.bank import load_bank
    from actor.judgement.judge import Judge, load_heads
    from actor.judgement.wording import language_of

    heads, _ = load_heads()
    judge = Judge(E5Embeddings(), heads, tips=BankTips(load_bank()[0]))
    req = GradeRequest(lang="nl", customer_line="Dit is nou al de derde keer dat ik hier sta voor dat pakket!", level=1,
                       reply="Ik moet even in het systeem kijken.", tactic="vent", scenario_id="counter")
    a = judge.verdicts(req)
    worded = judge.reasons(req, a)
    assert worded.wording == "bank", a.verdicts()
    assert language_of(worded.tip) == "nl"
    example = worded.tip.removeprefix("Bijvoorbeeld: “").removesuffix("”")
    rows = {r.trainee: r for r in load_bank()[0]}
    assert rows[example].scenario == "counter" and rows[example].lang == "nl"
    assert derive_move(rows[example].labels) != "provoke"
