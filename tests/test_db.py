"""The rehearsal store: migrations, SQLite settings, turns as a tree (a retry keeps the old
branch), validation, and durability of a committed turn when the process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC
import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import actor
from actor.db import Database, default_url
from actor.db.models import Base

OPENING = {"text": "Derde keer dat ik hier sta!", "path": "scripted"}


def fields(n: int, **extra) -> dict:
    return {"customer_line": f"line {n}", "reply": f"reply {n}", "move": "acknowledge",
            "state_before": {"level": n}, "state_after": {"level": n + 1},
            "answer": {"text": f"answer {n}"}, "seconds": {"grade": 0.5 * n, "actor": 1.25}, **extra}


def new_session(db: Database, **extra) -> str:
    return db.create_session(scenario="refund", difficulty="easy", lang="nl", opening=OPENING, **extra)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return default_url(tmp_path / "data")


@pytest.fixture
def db(url: str):
    database = Database.open(url)
    yield database
    database.close()


def test_upgrade_creates_the_schema_once_and_matches_the_models(tmp_path: Path, url: str):
    assert url == f"sqlite:///{tmp_path}/data/actor.db"
    db = Database(url)
    assert (tmp_path / "data").is_dir() and db.current_revision() is None
    db.upgrade()
    assert {"sessions", "turns", "alembic_version"} <= set(inspect(db.engine).get_table_names())
    assert db.current_revision() == db.head_revision() == "0003"
    sid = new_session(db)
    db.upgrade()
    assert db.current_revision() == "0003" and db.get_session(sid).scenario == "refund"
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        indexes = {i["name"] for t in ("sessions", "turns") for i in inspect(connection).get_indexes(t)}
    assert {"ix_turns_session_id", "ix_turns_parent_id", "ix_sessions_owner", "ix_sessions_created_at"} <= indexes
    db.close()


def test_migration_0003_stores_the_move_once(url: str):
    import sqlalchemy as sa

    db = Database(url)
    db.upgrade("0002")  # the schema of older versions: the move in a required column and beside it
    sid = new_session(db)
    with db.engine.begin() as connection:
        # as the older versions wrote them: a turn without an assessment holds JSON null (the text 'null')
        for n, assessment in ((1, json.dumps({"move": "cave"})), (2, "null"), (3, None)):
            connection.execute(sa.text(
                "INSERT INTO turns (session_id, number, customer_line, reply, move, move_judgement, state_before, "
                "state_after, assessment, seconds, created_at) VALUES (:sid, :n, 'l', 'r', 'boundary', '{}', '{}', '{}', "
                ":a, '{}', '2026-12-01 10:00:00')"), {"sid": sid, "n": n, "a": assessment})
    db.upgrade()
    assert db.current_revision() == "0003"
    with db.engine.connect() as connection:
        got = connection.execute(sa.text("SELECT number, move FROM turns ORDER BY number")).all()
        assert "move_judgement" not in {c["name"] for c in inspect(connection).get_columns("turns")}
    # judged: the assessment's move; unjudged (JSON null or SQL NULL): the column's move kept
    assert [tuple(r) for r in got] == [(1, None), (2, "boundary"), (3, "boundary")]
    from alembic import command

    with db.engine.connect() as connection:  # and back: the column required again, filled from the assessment
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        command.downgrade(db._alembic(connection), "0002")
        connection.commit()
        got = connection.execute(sa.text("SELECT number, move FROM turns ORDER BY number")).all()
    assert [tuple(r) for r in got] == [(1, "cave"), (2, "boundary"), (3, "boundary")] and db.current_revision() == "0002"
    db.close()


def test_sqlite_connections_use_wal_and_enforce_foreign_keys(db: Database):
    with db.engine.connect() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1 and pragma("synchronous") == 1 and pragma("busy_timeout") == 5000


def test_turns_follow_their_parents_in_order(db: Database):
    sid = new_session(db, owner="ann", policy=["Refunds within 30 days."])
    session = db.get_session(sid)
    assert len(sid) == 32 and int(sid, 16) >= 0
    assert (session.head_turn_id, session.status, session.mode, session.show_feedback) == (None, "active", "practice", True)
    assert session.opening == OPENING and session.policy == ["Refunds within 30 days."]
    assert session.created_at.tzinfo == UTC and db.path(sid) == []
    t1 = db.add_turn(sid, None, **fields(1))
    t2 = db.add_turn(sid, t1, **fields(2))
    t3 = db.add_turn(sid, t2, **fields(3, answer=None))
    path = db.path(sid)
    assert [t.id for t in path] == [t1, t2, t3] and [t.number for t in path] == [1, 2, 3]
    assert [t.reply for t in path] == ["reply 1", "reply 2", "reply 3"]
    assert path[0].parent_id is None and path[2].parent_id == t2 and path[2].answer is None
    assert path[1].seconds == {"grade": 1.0, "actor": 1.25} and path[1].state_after == {"level": 3}
    assert path[0].created_at.tzinfo == UTC and path[0].assessment is None and path[0].graded_at is None
    assert db.get_session(sid).head_turn_id == t3
    assert [t.id for t in db.path(sid, t2)] == [t1, t2]
    assert db.turn(t2).customer_line == "line 2" and db.turn(t3 + 100) is None


def test_a_retry_from_an_earlier_turn_keeps_the_old_branch(db: Database):
    sid = new_session(db)
    t1 = db.add_turn(sid, None, **fields(1))
    t2 = db.add_turn(sid, t1, **fields(2))
    t3 = db.add_turn(sid, t2, **fields(3))
    db.set_head(sid, t1)
    assert db.get_session(sid).head_turn_id == t1 and [t.id for t in db.path(sid)] == [t1]
    t4 = db.add_turn(sid, t1, **fields(4))
    assert db.get_session(sid).head_turn_id == t4
    assert [(t.id, t.number) for t in db.path(sid)] == [(t1, 1), (t4, 2)]
    branches = db.branches(sid)
    assert [[t.id for t in b] for b in branches] == [[t1, t2, t3], [t1, t4]]
    assert [t.number for t in branches[0]] == [1, 2, 3] and branches[0][2].reply == "reply 3"
    db.set_head(sid, None)
    t5 = db.add_turn(sid, None, **fields(5))
    assert db.turn(t5).number == 1 and [[t.id for t in b] for b in db.branches(sid)][-1] == [t5]
    assert len(db.branches(sid)) == 3 and db.turn(t2).reply == "reply 2"


def test_turns_of_another_session_and_bad_fields_are_refused(db: Database):
    a, b = new_session(db), new_session(db)
    ta = db.add_turn(a, None, **fields(1))
    with pytest.raises(ValueError, match="not a turn of session"):
        db.add_turn(b, ta, **fields(2))
    with pytest.raises(ValueError, match="not a turn of session"):
        db.set_head(b, ta)
    with pytest.raises(ValueError, match="not a turn of session"):
        db.path(b, ta)
    assert db.path(b) == [] and db.get_session(b).head_turn_id is None and db.path(a)[0].id == ta
    with pytest.raises(KeyError):
        db.add_turn("0" * 32, None, **fields(1))
    with pytest.raises(KeyError):
        db.update_session("0" * 32, status="ended")
    with pytest.raises(ValueError, match="unknown session field"):
        db.update_session(a, colour="red")
    with pytest.raises(ValueError, match="head_turn_id"):
        db.update_session(a, head_turn_id=None)
    with pytest.raises(ValueError, match="status"):
        db.update_session(a, status="finished")
    with pytest.raises(ValueError, match="unknown turn field"):
        db.add_turn(a, ta, **fields(2, number=7))
    assert len(db.path(a)) == 1 and db.get_session(a).status == "active"


def test_assessment_round_trip(db: Database):
    sid = new_session(db)
    tid = db.add_turn(sid, None, **fields(1))
    grade = {"move": "boundary", "criteria": {"stays_calm": {"verdict": "pass", "reason": "kalm"}}, "tone": 4}
    db.set_assessment(tid, grade)
    turn = db.turn(tid)
    assert turn.assessment == grade and turn.graded_at.tzinfo == UTC
    assert turn.graded_at >= turn.created_at
    with pytest.raises(KeyError):
        db.set_assessment(tid + 1, grade)


def test_update_and_list_sessions(db: Database):
    first = new_session(db, owner="ann")
    second = new_session(db, owner="bob", mode="assessment", pass_mark=0.7)
    third = new_session(db, owner="ann")
    before = db.get_session(first).updated_at
    db.update_session(first, status="ended", outcome="resolved", debrief={"score": 0.8}, reflection="Te snel.")
    row = db.get_session(first)
    assert (row.status, row.outcome, row.debrief, row.reflection) == ("ended", "resolved", {"score": 0.8}, "Te snel.")
    assert row.updated_at > before
    assert [s.id for s in db.list_sessions()] == [third, second, first]
    assert [s.id for s in db.list_sessions(owner="ann")] == [third, first]
    assert [s.id for s in db.list_sessions(limit=1)] == [third]
    assert db.get_session(second).pass_mark == 0.7 and db.get_session("0" * 32) is None


def test_a_new_database_object_sees_everything(url: str):
    db = Database.open(url)
    sid = new_session(db, owner="ann")
    t1 = db.add_turn(sid, None, **fields(1))
    t2 = db.add_turn(sid, t1, **fields(2))
    db.set_head(sid, t1)
    t3 = db.add_turn(sid, t1, **fields(3))
    db.set_assessment(t2, {"move": "cave"})
    db.close()
    again = Database(url)
    assert again.current_revision() == "0003"
    assert again.get_session(sid).owner == "ann" and again.get_session(sid).head_turn_id == t3
    assert [[t.id for t in b] for b in again.branches(sid)] == [[t1, t2], [t1, t3]]
    assert again.turn(t2).assessment == {"move": "cave"}
    again.close()


CHILD = """
import os, signal, sys
from actor.db import Database
db = Database(sys.argv[1])
tid = db.add_turn(sys.argv[2], int(sys.argv[3]), customer_line="line 2", reply="reply 2",
                  move="boundary", state_before={"level": 2}, state_after={"level": 1},
                  answer={"text": "answer 2"}, seconds={"grade": 2.5})
print(tid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_committed_turn_survives_a_killed_process(tmp_path: Path, url: str):
    db = Database.open(url)
    sid = new_session(db)
    t1 = db.add_turn(sid, None, **fields(1))
    db.close()
    env = {**os.environ, "PYTHONPATH": str(Path(actor.__file__).resolve().parents[1])}
    child = subprocess.run([sys.executable, "-c", CHILD, url, sid, str(t1)], check=False, capture_output=True,
                           text=True, env=env, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    tid = int(child.stdout)
    assert (tmp_path / "data" / "actor.db-wal").stat().st_size > 0  # killed before any checkpoint
    again = Database(url)
    turn = again.turn(tid)
    assert (turn.reply, turn.number, turn.parent_id, turn.seconds) == ("reply 2", 2, t1, {"grade": 2.5})
    assert again.get_session(sid).head_turn_id == tid
    assert [t.id for t in again.path(sid)] == [t1, tid]
    again.close()
