"""The rehearsal service with fake models and a real SQLite file: streaming, storage after every
turn, background grading, restore after a restart, branches, and bad input that changes nothing."""

from __future__ import annotations

import json
import threading
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from pydantic import Field

from actor.db import Database
from actor.session import Workbench
from actor.auth import Users
from actor.web import RehearsalService, SessionNotFound
from actor.refusals import MESSAGES, Refusal, message
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


def play(service: RehearsalService, sid: str, reply: str, user: str | None = None):
    items = list(service.respond(sid, reply, user=user))
    return items[:-1], items[-1]


def hold_grading(service: RehearsalService) -> threading.Event:
    """Occupy the service's only grading worker until the returned event is set."""
    held = threading.Event()
    service._grading.submit(held.wait, 30)
    return held


def test_a_turn_streams_is_stored_and_graded_in_the_background(db):
    service = RehearsalService(bench(["Nou, dat werd tijd dat iemand dat zegt, zeg."]), db)
    live = service.start("counter", "easy", "nl")
    held = hold_grading(service)  # the wording waits until the test lets it go
    texts, turn = play(service, live.id, ACK)
    assert texts[-1] == "Nou, dat werd tijd dat iemand dat zegt, zeg." and turn.move == "acknowledge"
    stored = db.path(live.id)
    assert [r.reply for r in stored] == [ACK] and stored[0].answer["text"] == texts[-1] and turn.id == stored[0].id
    assert stored[0].assessment["move"] == "acknowledge" and stored[0].move is None  # the move stored once
    assert stored[0].assessment["criteria"]["stays_calm"]["verdict"] == "pass"  # stored with the turn
    assert stored[0].assessment["wording"] == "pending" and not service.grading_done(live.id)
    assert service.view(live.id).turns[0].assessment.wording == "pending"
    held.set()
    service.wait_for_grades(live.id, timeout=30)
    graded = db.turn(stored[0].id)
    assert graded.assessment["criteria"]["stays_calm"]["verdict"] == "pass" and graded.graded_at is not None
    assert graded.assessment["wording"] == "rubric" and graded.assessment["tip"] == ""  # nothing failed: no model call
    shown = service.view(live.id).turns[0].assessment  # handed over to readers as well
    assert shown.wording == graded.assessment["wording"] and shown.criteria["stays_calm"].verdict == "pass"
    assert shown.tip == graded.assessment["tip"] and "wording" in service.view(live.id).turns[0].seconds


def test_the_grading_thread_hands_its_result_over_and_never_changes_the_sessions_records(db):
    service = RehearsalService(bench(["Nou, dat werd tijd.", "En nu dan?"]), db)
    live = service.start("counter", "easy", "nl")
    play(service, live.id, ACK)
    record = live.session.turns[0]
    service.wait_for_grades(live.id, timeout=30)
    assert record.assessment.wording == "pending" and "wording" not in record.seconds  # not touched by the worker
    assert service.view(live.id).turns[0].assessment.wording == "rubric"  # readers see the result at once
    play(service, live.id, NEUTRAL)  # the session's own thread takes it in, as a new record
    assert live.session.turns[0] is not record and live.session.turns[0].assessment.wording == "rubric"
    assert "wording" in live.session.turns[0].seconds


def test_a_retry_while_gradings_wait_words_every_stored_turn_of_both_branches(db):
    service = RehearsalService(bench(["Nou?", "En nu?", "Hoezo?", "Eindelijk."], grades=6), db)
    live = service.start("counter", "easy", "nl")
    held = hold_grading(service)
    for reply in (ACK, NEUTRAL, ACK):
        play(service, live.id, reply)
    service.retry_from(live.id, 2)  # turns 2 and 3 are rewound away while their wording still waits
    held.set()
    service.wait_for_grades(live.id, timeout=30)  # no grading failed on the rewound session
    play(service, live.id, NEUTRAL)
    service.wait_for_grades(live.id, timeout=30)
    stored = [t for branch in db.branches(live.id) for t in branch]
    assert len({t.id for t in stored}) == 4 and all(t.assessment["wording"] != "pending" for t in stored)
    assert [t.number for t in service.view(live.id).turns] == [1, 2]


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
    assert db.get_session(live.id).head_turn_id == live.session.turns[0].id
    _, again = play(service, live.id, "Beter tweede antwoord.")
    assert db.turn(again.id).parent_id == live.session.turns[0].id and again.number == 2
    branches = [[r.reply for r in branch] for branch in db.branches(live.id)]
    assert branches == [["Eerste antwoord.", "Tweede antwoord."], ["Eerste antwoord.", "Beter tweede antwoord."]]
    with pytest.raises(ValueError, match="no turn 5"):
        service.retry_from(live.id, 5)


def refused(call) -> str:
    """The code of the :class:`Refusal` that ``call()`` raises."""
    with pytest.raises(Refusal) as caught:
        call()
    return caught.value.code


def test_bad_input_and_paused_sessions_are_refused_at_call_time_and_change_nothing(db):
    service = RehearsalService(bench(["Hm."]), db)
    live = service.start("counter", "easy", "nl")
    # refused by calling respond: the iterator is never returned, nothing is pulled
    assert refused(lambda: service.respond(live.id, "   ")) == "empty_reply"
    too_long = "Ik begrijp u. " * 80
    assert refused(lambda: service.respond(live.id, too_long)) == "reply_too_long"
    with pytest.raises(ValueError, match="too long"):  # still a ValueError with the English text
        service.respond(live.id, too_long)
    live.lock.acquire()  # another reply of this session is being answered
    try:
        assert refused(lambda: service.respond(live.id, "Hallo?")) == "busy"
    finally:
        live.lock.release()
    service.set_status(live.id, "paused")
    assert refused(lambda: service.respond(live.id, "Hallo?")) == "conversation_paused"
    service.set_status(live.id, "stopped")
    assert refused(lambda: service.respond(live.id, "Hallo?")) == "conversation_ended"
    assert refused(lambda: service.set_status(live.id, "finished")) == "bad_status"
    assert refused(lambda: service.retry_from(live.id, 1)) == "no_such_turn"
    assert refused(lambda: service.debrief(live.id)) == "no_turns"
    assert refused(lambda: service.start("counter", "easy", "nl", mode="exam")) == "bad_mode"
    assert db.path(live.id) == [] and live.session.turns == [] and not live.lock.locked()
    with pytest.raises(SessionNotFound):
        service.get("0" * 32)
    with pytest.raises(SessionNotFound):
        service.respond("0" * 32, "Hallo?")


def test_refusals_are_translated_by_code():
    assert set(MESSAGES["nl"]) == set(MESSAGES["en"])
    too_long = Refusal("reply_too_long", length=1120, limit=1000)
    assert message(too_long, "nl") == "Te lang antwoord (1120 tekens; hoogstens 1000): zeg het korter, zoals je het hardop zou zeggen."
    assert message(too_long, "en") == str(too_long) and str(too_long).startswith("reply too long (1120 characters")
    assert message(Refusal("busy"), "nl").startswith("De klant is nog aan het antwoorden")
    assert message(SessionNotFound("x"), "nl") == "Dat gesprek bestaat niet of is niet van jou."
    assert message(ValueError("something else"), "nl") == "something else"  # no code: its own text, nothing matched
    with pytest.raises(KeyError):
        Refusal("no_such_code")


def test_every_session_method_checks_the_requesting_user(db, tmp_path):
    users = Users(db)
    for name, role in (("anna", "trainee"), ("bram", "trainee"), ("tina", "trainer")):
        users.add(name, role, f"{name}-geheim")
    service = RehearsalService(bench(["Hm.", "En nu?"]), db)
    live = service.start("counter", "easy", "nl", user="anna")
    assert db.get_session(live.id).owner == "anna"
    play(service, live.id, ACK, user="anna")
    for stranger in ("bram", "tina", None, ""):  # another trainee, a trainer in the rehearsal room, nobody
        for call in (lambda: service.get(live.id, stranger), lambda: service.view(live.id, stranger),
                     lambda: service.row(live.id, stranger), lambda: service.respond(live.id, ACK, user=stranger),
                     lambda: service.retry_from(live.id, 1, user=stranger),
                     lambda: service.set_status(live.id, "paused", user=stranger),
                     lambda: service.debrief(live.id, user=stranger),
                     lambda: service.wait_for_grades(live.id, user=stranger),
                     lambda: service.grading_done(live.id, user=stranger)):
            with pytest.raises(SessionNotFound):
                call()
    assert db.get_session(live.id).status == "active" and len(db.path(live.id)) == 1  # nothing changed
    assert [t.reply for t in service.view(live.id, "anna").turns] == [ACK]
    service.wait_for_grades(live.id, timeout=30, user="anna")
    open_service = RehearsalService(bench(["Hm."]), Database.open(f"sqlite:///{tmp_path}/nologin.db"))
    mine = open_service.start("counter", "easy", "nl", user="anna")  # without users nobody logs in: all open
    assert open_service.view(mine.id, None).id == mine.id and open_service.get(mine.id, "bram") is mine


def test_an_idle_session_is_evicted_and_restored_with_the_same_transcript(db):
    now = [0.0]
    service = RehearsalService(bench(["Ik wacht al een uur.", "En nu?", "Nou?"]), db, idle_seconds=60, clock=lambda: now[0])
    live = service.start("counter", "easy", "nl")
    play(service, live.id, NEUTRAL)
    held = hold_grading(service)
    play(service, live.id, ACK)
    before = service.view(live.id)
    now[0] += 61
    assert live.id in service.evict_idle()  # a grading still runs: kept
    held.set()
    service.wait_for_grades(live.id, timeout=30)
    now[0] += 61
    assert service.evict_idle() == []
    after = service.view(live.id)  # the next request restores it from the database
    restored = service.get(live.id)
    assert restored is not live and [t.id for t in restored.session.turns] == [t.id for t in live.session.turns]
    assert [(t.customer_line, t.reply, t.answer.text) for t in after.turns] == [(t.customer_line, t.reply, t.answer.text) for t in before.turns]
    assert restored.session.state == live.session.state and after.level == before.level and after.opening == before.opening
    assert [t.assessment.verdicts() for t in after.turns] == [t.assessment.verdicts() for t in before.turns]
    assert all(t.assessment.wording != "pending" for t in after.turns) and service.grading_done(live.id)  # nothing graded twice
    play(service, live.id, NEUTRAL)  # and it goes on where it was, on the same branch
    assert [[r.reply for r in b] for b in db.branches(live.id)] == [[NEUTRAL, ACK, NEUTRAL]]


def test_at_most_max_live_sessions_are_held(db):
    now = [0.0]
    service = RehearsalService(bench(["Hm."] * 3), db, max_live=2, clock=lambda: now[0])
    ids = []
    for _ in range(3):
        now[0] += 1
        ids.append(service.start("counter", "easy", "nl").id)
    assert service.evict_idle() == ids[1:]  # the least recently used went first
    now[0] += 1
    service.view(ids[0])  # restored; now the second is the least recently used
    assert sorted(service.evict_idle()) == sorted([ids[0], ids[2]])


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
    held = hold_grading(service)
    play(service, live.id, ACK)
    text = feedback_markdown(service.view(live.id).turns, "nl")  # verdicts at once, words pending
    assert text.count("✓") == len(CRITERIA_AT_L1) and "toelichting volgt" in text
    held.set()
    service.wait_for_grades(live.id, timeout=30)
    turns = service.view(live.id).turns
    text = feedback_markdown(turns, "nl")
    assert "Beurt 1" in text and "zet *erkennen*" in text and text.count("✓") == len(CRITERIA_AT_L1) and "toelichting volgt" not in text
    a = turns[0].assessment
    assert a.tip == ""  # nothing failed: no better phrasing asked
    tipped = [turns[0].model_copy(update={"assessment": a.model_copy(update={"tip": "Ik kijk nu in het systeem voor u."})})]
    assert "Ik kijk nu in het systeem voor u." in feedback_markdown(tipped, "nl")
    unsure = a.criteria["takes_control"].model_copy(update={"unsure": True, "p_pass": 0.55})
    shown = [turns[0].model_copy(update={"assessment": a.model_copy(update={"criteria": {**a.criteria, "takes_control": unsure}})})]
    assert "? Neemt de regie — twijfel (p=0.55)" in feedback_markdown(shown, "nl")
    assert 'data-level="1"' in meter_html(1, "nl") and meter_html(3, "en").count('class="on') == 4 and meter_html(3, "en").count('aria-current') == 1


class RecordingChat(FakeListChatModel):
    """A fake chat model that keeps the messages of every call (``calls``: one list of message
    texts per call)."""

    calls: list = Field(default_factory=list)

    def _call(self, messages, stop=None, run_manager=None, **kwargs):
        self.calls.append([m.content for m in messages])
        return super()._call(messages, stop=stop, run_manager=run_manager, **kwargs)

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        self.calls.append([m.content for m in messages])
        yield from super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs)


def test_a_trainer_tries_two_versions_of_the_customer_prompt_side_by_side():
    from actor.evaluator.rubric import PROMPTS_DIR
    from actor.web.trainer import figures_table, run_version

    text = (PROMPTS_DIR / "persona" / "customer.yaml").read_text(encoding="utf-8")
    lines = ["Nou, en dan?", "Dat geloof ik niet.", "Ik wil mijn pakket.", "Waarom duurt dit zo lang?",
             "Ik ga een klacht indienen.", "Schiet eens op."]
    marker = "Merkteken-B-7731: versie B van de prompt."
    edited = text.replace("nl:\n  system: |\n", f"nl:\n  system: |\n    {marker}\n", 1)
    assert edited != text

    def recording_bench() -> tuple[Workbench, RecordingChat]:
        b = bench(lines)
        b.persona_model = RecordingChat(responses=lines)
        return b, b.persona_model

    bench_a, model_a = recording_bench()
    bench_b, model_b = recording_bench()
    a, a_md = run_version(bench_a, "persona/customer.yaml", text, ["counter-nl-unskilled"], "medium")
    b, _ = run_version(bench_b, "persona/customer.yaml", edited, ["counter-nl-unskilled"], "medium")
    assert a[0]["lines"] >= 1 and a[0]["final_level"] >= 1 and "counter-nl-unskilled" in a_md
    prompts_a = ["\n".join(c) for c in model_a.calls]
    prompts_b = ["\n".join(c) for c in model_b.calls]
    assert prompts_a and prompts_b  # the customer's model was asked in both runs
    assert not any(marker in p for p in prompts_a)
    assert any(marker in p for p in prompts_b)  # B's edited text reached the customer's model
    table = figures_table({"A": a, "B": b})
    assert list(table.columns) == ["measure", "A", "B"] and "final levels" in set(table["measure"])
    with pytest.raises(ValueError, match="extra_key"):
        run_version(bench(lines), "persona/customer.yaml", text + "\nextra_key: 1\n", ["counter-nl-unskilled"], "medium")
