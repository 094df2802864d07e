"""The rehearsal service with fake models and a real SQLite file: streaming, storage after every
turn, background grading, restore after a restart, branches, and bad input that changes nothing."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from actor.db import Database
from actor.session import Workbench
from actor.web import RehearsalService, SessionNotFound
from test_persona_actor import SCENARIO, FakeRetriever
from test_session import judge, move

CRITERIA_AT_L1 = ["stays_calm", "acknowledges_emotion", "listens_and_explores", "takes_control", "no_false_promises"]
GRADE = [json.dumps({"better": "Wat vervelend, ik kijk nu in het systeem. Wat is uw naam?"})]


def bench(lines: list[str], grades: int = 3) -> Workbench:
    """A workbench on fakes; the judgement is real (heads fitted on a tiny synthetic bank with
    deterministic embeddings, ``tests/fakejudge.py``)."""
    scenario = SCENARIO.model_copy(update={"difficulties": {
        d: v.model_copy(update={"good_moves_to_deescalate": 3}) for d, v in SCENARIO.difficulties.items()}})
    return Workbench({"counter": scenario}, FakeRetriever(), FakeListChatModel(responses=lines),
                     FakeListChatModel(responses=GRADE * grades), judge(), "fake")


ACK = move("acknowledge")
NEUTRAL = move("neutral")


@pytest.fixture
def db(tmp_path) -> Database:
    return Database.open(f"sqlite:///{tmp_path}/actor.db")


def play(service: RehearsalService, sid: str, reply: str):
    items = list(service.respond(sid, reply))
    return items[:-1], items[-1]


def test_a_turn_streams_is_stored_and_graded_in_the_background(db):
    service = RehearsalService(bench(["Nou, dat werd tijd dat iemand dat zegt, zeg."]), db)
    live = service.start("counter", "easy", "nl")
    service._grading.submit(__import__("time").sleep, 1.0)  # the wording waits behind this
    texts, turn = play(service, live.id, ACK)
    assert texts[-1] == "Nou, dat werd tijd dat iemand dat zegt, zeg." and turn.move.move == "acknowledge"
    stored = db.path(live.id)
    assert [r.reply for r in stored] == [ACK] and stored[0].answer["text"] == texts[-1]
    assert stored[0].assessment["criteria"]["stays_calm"]["verdict"] == "pass"  # stored with the turn
    assert stored[0].assessment["wording"] == "pending"
    service.wait_for_grades(live.id, timeout=30)
    graded = db.turn(stored[0].id)
    assert graded.assessment["criteria"]["stays_calm"]["verdict"] == "pass" and graded.graded_at is not None
    assert graded.assessment["wording"] in ("model", "rubric") and graded.assessment["tip"]


def test_a_restarted_service_restores_the_session_and_grades_what_was_left(db):
    first = RehearsalService(bench(["Ik wacht al een uur.", "En nu?"], grades=0), db)
    live = first.start("counter", "easy", "nl")
    play(first, live.id, NEUTRAL)
    play(first, live.id, ACK)
    first.close()
    again = RehearsalService(bench(["Nou?"]), db)  # a new process: nothing in memory
    restored = again.get(live.id)
    assert [t.reply for t in restored.session.turns] == [NEUTRAL, ACK]
    assert restored.session.history[-1].text == "En nu?" and restored.session.state == live.session.state
    again.wait_for_grades(live.id, timeout=30)
    assert all(r.assessment and r.assessment["wording"] != "pending" for r in db.path(live.id))


def test_retry_keeps_the_old_branch(db):
    service = RehearsalService(bench(["Eén.", "Twee.", "Drie."]), db)
    live = service.start("counter", "easy", "nl")
    play(service, live.id, "Eerste antwoord.")
    play(service, live.id, "Tweede antwoord.")
    service.retry_from(live.id, 2)
    assert [t.reply for t in live.session.turns] == ["Eerste antwoord."] and live.session.history[-1].text == "Eén."
    play(service, live.id, "Beter tweede antwoord.")
    branches = [[r.reply for r in branch] for branch in db.branches(live.id)]
    assert branches == [["Eerste antwoord.", "Tweede antwoord."], ["Eerste antwoord.", "Beter tweede antwoord."]]
    with pytest.raises(ValueError, match="no turn 5"):
        service.retry_from(live.id, 5)


def test_bad_input_and_paused_sessions_change_nothing(db):
    service = RehearsalService(bench(["Hm."]), db)
    live = service.start("counter", "easy", "nl")
    with pytest.raises(ValueError, match="empty"):
        play(service, live.id, "   ")
    service.set_status(live.id, "paused")
    with pytest.raises(ValueError, match="paused"):
        play(service, live.id, "Hallo?")
    assert db.path(live.id) == [] and live.session.turns == []
    with pytest.raises(SessionNotFound):
        service.get("0" * 32)
    with pytest.raises(SessionNotFound):
        service.get(live.id, owner="someone else")


def test_the_debrief_waits_for_the_grades_and_is_stored(db):
    service = RehearsalService(bench(["Goed dan."]), db)
    service.bench.evaluator_model = FakeListChatModel(responses=GRADE + ["not json"] * 4)
    live = service.start("counter", "easy", "en")
    play(service, live.id, ACK)
    debrief = service.debrief(live.id)
    assert debrief.turns == 1 and debrief.pass_rates["stays_calm"] == 1.0
    assert db.get_session(live.id).debrief_markdown == debrief.markdown


def test_the_feedback_panel_and_the_meter_show_what_was_graded(db):
    from actor.web.trainee import feedback_markdown, meter_html

    service = RehearsalService(bench(["Nou, dat werd tijd."]), db)
    live = service.start("counter", "easy", "nl")
    service._grading.submit(__import__("time").sleep, 1.0)  # the wording waits behind this
    play(service, live.id, ACK)
    text = feedback_markdown(live, "nl")  # verdicts at once, words pending
    assert text.count("✓") == len(CRITERIA_AT_L1) and "toelichting volgt" in text
    service.wait_for_grades(live.id, timeout=30)
    text = feedback_markdown(live, "nl")
    assert "Beurt 1" in text and "zet *erkennen*" in text and text.count("✓") == len(CRITERIA_AT_L1) and "ik kijk nu in het systeem" in text
    unsure = live.session.turns[0].assessment.criteria["takes_control"].model_copy(update={"unsure": True, "p_pass": 0.55})
    live.session.turns[0].assessment.criteria["takes_control"] = unsure
    assert "? Neemt de regie — twijfel (p=0.55)" in feedback_markdown(live, "nl")
    assert 'data-level="1"' in meter_html(1, "nl") and meter_html(3, "en").count('class="on') == 4 and meter_html(3, "en").count('aria-current') == 1


def test_a_trainer_tries_two_versions_of_the_customer_prompt_side_by_side():
    from actor.evaluator.rubric import PROMPTS_DIR
    from actor.web.trainer import figures_table, run_version

    text = (PROMPTS_DIR / "persona" / "customer.yaml").read_text(encoding="utf-8")
    lines = ["Nou, en dan?", "Dat geloof ik niet.", "Ik wil mijn pakket.", "Waarom duurt dit zo lang?",
             "Ik ga een klacht indienen.", "Schiet eens op."]
    a, a_md = run_version(bench(lines), "persona/customer.yaml", text, ["counter-nl-unskilled"], "medium")
    b, _ = run_version(bench(lines), "persona/customer.yaml", text.replace("één of twee", "één"), ["counter-nl-unskilled"], "medium")
    assert a[0]["lines"] >= 1 and a[0]["final_level"] >= 1 and "counter-nl-unskilled" in a_md
    table = figures_table({"A": a, "B": b})
    assert list(table.columns) == ["measure", "A", "B"] and "final levels" in set(table["measure"])
    with pytest.raises(ValueError, match="extra_key"):
        run_version(bench(lines), "persona/customer.yaml", text + "\nextra_key: 1\n", ["counter-nl-unskilled"], "medium")
