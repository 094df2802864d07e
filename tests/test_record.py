"""One turn record: stored and restored unchanged (history, state, move, assessment), the
exports read from it, the move taken from the judgement, and bad records refused."""

from __future__ import annotations

import csv
import io

import pytest

from actor import review
from actor.db import Database
from actor.record import TurnRecord
from actor.session import Session
from actor.web.render import text
from test_persona_actor import SCENARIO
from test_session import make, move


@pytest.fixture
def db(tmp_path) -> Database:
    return Database.open(f"sqlite:///{tmp_path}/actor.db")


def stored(db: Database, session: Session) -> str:
    """``session`` stored record by record, as the service does; the records get their ids."""
    sid = db.create_session(scenario="counter", difficulty="easy", lang="nl", opening={"text": session.opening.text})
    parent = None
    for t in session.turns:
        t.id = parent = db.add_record(sid, parent, t)
    return sid


def test_a_stored_record_comes_back_with_the_same_history_state_move_and_assessment(db):
    s = make(["Wat zegt u nou?", "Dit is toch niet normaal."])
    s.turn("Rustig aan, meneer.", grade=False)
    s.turn(move("acknowledge"))  # worded
    sid = stored(db, s)
    back = db.records(sid)
    assert [t.id for t in back] == [r.id for r in db.path(sid)] and all(t.id for t in back)
    assert back == s.turns  # every field, the database id included
    assert [t.move for t in back] == ["provoke", "acknowledge"] == [t.assessment.move for t in s.turns]
    assert [t.assessment for t in back] == [t.assessment for t in s.turns] and back[0].answer == s.turns[0].answer
    restored = Session(SCENARIO, "easy", "nl", s.actor, s.judge, opening=s.opening, turns=back)
    assert restored.history == s.history and restored.state == s.state and restored.ended == s.ended
    rows = db.path(sid)
    assert [r.move for r in rows] == [None, None]  # the move is stored once, in the assessment
    assert [r.assessment["move"] for r in rows] == ["provoke", "acknowledge"]


def test_the_exports_are_read_from_the_records(db):
    s = make(["Wat zegt u nou?"])
    s.turn("Rustig aan, meneer.", grade=False)
    sid = stored(db, s)
    t = s.turns[0]
    rows = list(csv.DictReader(io.StringIO(review.export_csv(db, [sid]))))
    assert [(r["turn"], r["reply"], r["move"], r["level_before"], r["level_after"]) for r in rows] == [
        ("1", t.reply, t.move, str(t.state_before.level), str(t.state_after.level))]
    assert rows[0]["stays_calm_ai"] == rows[0]["stays_calm_final"] == t.assessment.criteria["stays_calm"].verdict == "fail"
    md = review.export_markdown(db, sid)
    assert f"## Turn 1 (L{t.state_before.level} → L{t.state_after.level}, move provoke)" in md
    assert f"Customer's line: {t.answer.path}, tactic {text(t.answer.tactic)}, prompt sha256 `{t.answer.prompt_sha256[:12]}`" in md
    assert f"**Customer:** {text(t.answer.text)}" in md
    summary = review.summarise(db, db.get_session(sid))
    assert summary.turns == 1 and summary.score == t.assessment.score and t.reply in summary.text
    exported = review.export_session(db, sid)["turns"][0]  # the JSON export keeps every column
    assert exported["id"] == t.id and exported["assessment"]["move"] == exported["move"] == "provoke"  # readable on its own


def test_a_turn_stored_without_verdicts_keeps_its_stored_move_until_graded(db):
    s = make(["Wat zegt u nou?"])
    t = s.turn(move("acknowledge"), grade=False)
    sid = db.create_session(scenario="counter", difficulty="easy", lang="nl", opening={"text": s.opening.text})
    old = db.add_turn(sid, None, customer_line=t.customer_line, reply=t.reply, move="boundary",
                      state_before=t.model_dump(mode="json")["state_before"], state_after=t.model_dump(mode="json")["state_after"],
                      answer=None, seconds={})
    [back] = db.records(sid)
    assert back.id == old and back.assessment is None and back.needs_wording and back.move == "boundary"
    back.assessment = t.assessment
    assert back.move == t.assessment.move == "acknowledge" and not back.model_dump(mode="json")["move"] == "boundary"


def test_bad_records_are_refused(db):
    s = make(["Wat zegt u nou?"])
    t = s.turn(move("neutral"), grade=False)
    sid = stored(db, s)
    with pytest.raises(ValueError, match="does not follow"):
        db.add_record(sid, t.id, t)  # number 1 after turn 1
    data = t.model_dump(mode="json")
    with pytest.raises(ValueError):
        TurnRecord.model_validate({**data, "colour": "red"})
    with pytest.raises(ValueError):
        TurnRecord.model_validate({**data, "move": "dance"})
    with pytest.raises(ValueError):
        TurnRecord.model_validate({**data, "number": 0})
    assert TurnRecord.model_validate(data) == t
