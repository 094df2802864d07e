"""A whole rehearsal with fake models: turns, state, refusal of bad input, end by success.

The judgement is real (fitted heads on a tiny synthetic bank with deterministic embeddings,
``tests/fakejudge.py``); the customer and the wording model are LangChain fakes."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from actor.judgement.wording import Writer
from actor.persona.actor import Actor
from actor.record import TurnRecord
from actor.session import MAX_REPLY_CHARS, Session
from fakejudge import ACK, CAVE, NEUTRAL, PROVOKE, WordEmbeddings, fake_judge
from test_persona_actor import SCENARIO, FakeRetriever

L1 = ["stays_calm", "acknowledges_emotion", "listens_and_explores", "takes_control", "no_false_promises"]
ExactEmbeddings = WordEmbeddings
EXAMPLES = {"acknowledge": ACK, "neutral": NEUTRAL, "provoke": PROVOKE, "cave": CAVE}
_JUDGE: dict = {}


def move(name: str) -> str:
    """A reply the test judgement classifies as ``name``."""
    return EXAMPLES[name]


def judge():
    if "j" not in _JUDGE:
        _JUDGE["j"] = fake_judge()
    return _JUDGE["j"]


def wording(better: str = "Wat vervelend dat u voor niets kwam. Wat is er precies gebeurd?") -> str:
    return json.dumps({"better": better})


def make(lines: list[str], words: list[str] = ()) -> Session:
    actor = Actor(FakeListChatModel(responses=lines), SCENARIO, "nl", FakeRetriever())
    writer = Writer(FakeListChatModel(responses=list(words) or ["{}"]), retries=0)
    return Session(SCENARIO, "easy", "nl", actor, judge(), writer=writer)


def test_bad_input_is_refused_and_changes_nothing():
    s = make(["x"])
    with pytest.raises(ValueError, match="empty"):
        s.turn("   ")
    with pytest.raises(ValueError, match="too long"):
        s.turn("a" * (MAX_REPLY_CHARS + 1))
    assert s.turns == [] and len(s.history) == 1 and s.state.turn == 0


def test_a_good_turn_calms_the_customer_and_a_provocation_escalates():
    s = make(["Nou goed, wat gaat u er dan aan doen?", "Dat wil ik wel eens zien."])
    assert s.history[0].text == "Derde keer dat ik hier sta!" and s.state.level == 1
    t1 = s.turn(move("acknowledge"), grade=False)
    assert t1.assessment.move == t1.move == "acknowledge" and t1.state_after.level == 0
    assert t1.answer.text == "Nou goed, wat gaat u er dan aan doen?" and not s.ended
    t2 = s.turn(move("provoke"), grade=False)
    assert t2.move == "provoke" and t2.state_after.level > t1.state_after.level


def test_provocation_escalates_and_everything_is_recorded():
    s = make(["Wat zei je daar? Rustig aan? Ik?"])
    t = s.turn("Rustig aan meneer.", grade=False)
    assert t.assessment.move == "provoke" and t.state_after.level == 2
    assert t.assessment.criteria["stays_calm"].source == "rules"
    assert t.answer.path == "model" and s.history[-1].text == "Wat zei je daar? Rustig aan? Ik?"
    data = json.loads(json.dumps(s.to_dict()))
    assert data["turns"][0]["assessment"]["criteria"]["stays_calm"]["verdict"] == "fail"
    assert data["turns"][0]["answer"]["path"] == "model" and data["final_level"] == 2


def test_verdicts_exist_when_the_customer_answers_and_the_words_follow():
    reply = move("neutral")
    s = make(["Nou, en wat gaat u daar dan aan doen, meneer de baliemedewerker?"], [wording()])
    items = list(s.respond(reply))
    texts, turn = items[:-1], items[-1]
    assert isinstance(turn, TurnRecord) and turn.id is None and turn.assessment.wording == "pending" and turn.needs_wording
    assert turn.assessment.criteria["acknowledges_emotion"].verdict == "fail" and turn.assessment.criteria["stays_calm"].verdict == "pass"
    early = turn.assessment.criteria["acknowledges_emotion"].reason  # the reason comes with the verdict, no model
    assert early.startswith("In “") and early.endswith("benoem of erken je het gevoel van de klant niet.") and not turn.assessment.tip
    assert texts == [turn.answer.text] and "first_token" in turn.seconds and "move" in turn.seconds
    verdicts = turn.assessment.verdicts()
    worded = s.grade(turn)
    assert turn.assessment is worded and worded.verdicts() == verdicts and worded.wording == "model"
    evidence = worded.criteria["acknowledges_emotion"].evidence
    assert evidence and evidence in reply  # the quote is the reply's own words
    assert worded.criteria["acknowledges_emotion"].reason == f"In “{evidence}” benoem of erken je het gevoel van de klant niet." == early
    assert worded.tip.startswith("Wat vervelend")


def test_a_tip_that_teaches_a_false_promise_speaks_english_or_copies_falls_back_to_the_rubric():
    for better in ("Ik beloof dat u het geld vandaag terugkrijgt.", "You could say that it is annoying.", move("neutral"),
                   "Derde keer dat ik hier sta! Ik wil mijn pakket."):  # the last: the customer's line, not a phrasing
        t = make(["Hm."], [wording(better)]).turn(move("neutral"))
        a = t.assessment
        assert a.wording == "rubric" and a.criteria["acknowledges_emotion"].verdict == "fail"
        assert a.tip.startswith("Bijvoorbeeld"), better  # none of them is shown
        assert a.criteria["acknowledges_emotion"].reason.startswith("In “")  # the reasons never depend on the model


def test_a_failing_embedding_gives_rule_verdicts_and_keeps_the_turn():
    s = make(["Ik wacht."])
    broken = fake_judge()
    broken.featurizer.embeddings = None  # the embedding engine is gone
    broken.featurizer._cache.clear()
    s.judge = broken
    t = s.turn("Ik ga het voor u uitzoeken.", grade=False)
    assert t.assessment.status == "rules_only" and t.move == "neutral" and t.reply == "Ik ga het voor u uitzoeken."
    t = s.turn("Rustig aan, meneer.", grade=False)
    assert t.assessment.criteria["stays_calm"].verdict == "fail" and t.move == "provoke"


def test_the_customer_lines_tactic_reaches_the_judgement():
    s = make(["Jij bent echt te dom, hè?"])
    s.turn(move("neutral"), grade=False)
    s.turns[0].answer = s.turns[0].answer.__class__(**{**s.turns[0].answer.__dict__, "tactic": "belittle"})
    pending = TurnRecord(number=2, customer_line="Jij bent echt te dom, hè?", reply="Ok.", state_before=s.state, state_after=s.state)
    assert s.grade_request(pending).tactic == "belittle"
    assert s.judge.verdicts(s.grade_request(pending)).criteria["sets_boundary"].verdict != "n/a"  # applies: belittling


def test_a_restored_session_continues_where_it_was_and_can_be_rewound():
    s = make(["Wat zegt u nou?", "Dit is toch niet normaal."])
    s.turn("Dat is niet mijn probleem.", grade=False)
    s.turn(move("neutral"), grade=False)
    records = json.loads(json.dumps([t.model_dump(mode="json") for t in s.turns]))
    assert [r["move"] for r in records] == [t.assessment.move for t in s.turns]  # the one move, the judgement's
    again = make(["Hm."])
    restored = Session(SCENARIO, "easy", "nl", again.actor, again.judge, writer=again.writer,
                       opening=s.opening, turns=[TurnRecord.model_validate(r) for r in records])
    assert restored.turns == s.turns and restored.history == s.history and restored.state == s.state
    dropped = restored.rewind(1)
    assert [t.number for t in dropped] == [2] and restored.state == s.turns[0].state_after
    assert restored.history[-1].text == "Wat zegt u nou?"




def test_history_and_state_follow_the_records_however_the_list_changes():
    s = make(["Wat zegt u nou?", "Dit is toch niet normaal."])
    start = s.state
    first = s.turn(move("provoke"), grade=False)
    s.turn(move("neutral"), grade=False)
    assert [u.speaker for u in s.history] == ["customer", "employee", "customer", "employee", "customer"]
    s.turns.pop()  # changed behind the session's back: nothing else to keep in step
    assert s.state == first.state_after and s.history[-1].text == "Wat zegt u nou?" and len(s.history) == 3
    s.turns[0] = first.model_copy(update={"reply": "Anders gezegd.", "answer": None})
    assert [u.text for u in s.history] == [s.opening.text, "Anders gezegd."]
    s.turns.clear()
    assert s.state == start and [u.text for u in s.history] == [s.opening.text] and not s.ended
