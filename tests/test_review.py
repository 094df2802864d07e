"""Reviewing stored sessions: filters, overrides beside the evaluator's verdicts, exports, the
JSON round trip, dashboard data, and users with hashed passwords."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from actor import review
from actor.auth import Users, check_password, hash_password
from actor.db import Database


def assessment(verdicts: dict[str, str], move: str = "neutral") -> dict:
    return {"criteria": {c: {"reason": "r", "evidence": "", "verdict": v, "source": "model"} for c, v in verdicts.items()},
            "tip": "t", "tone": 3, "move": move, "status": "graded", "error": None, "injection_suspected": False,
            "rubric_sha256": "r" * 64, "prompt_sha256": "p" * 64, "model_id": "fake", "seconds": 1.0}


def line(text: str) -> dict:
    """A stored customer line (``ActorLine`` as a dict)."""
    return {"text": text, "path": "model", "tactic": "vent", "prompt_sha256": "a" * 64}


def seed(db: Database) -> tuple[str, str]:
    state = {"level": 1, "aggression_type": "frustration"}
    a = db.create_session(owner="anna", scenario="counter", difficulty="medium", lang="nl", mode="practice",
                          opening={"text": "Waar is mijn pakket?"}, policy=[])
    t1 = db.add_turn(a, None, customer_line="Waar is mijn pakket?", reply="Rustig aan, mevrouw.", move="provoke",
                     state_before=state, state_after={**state, "level": 2},
                     answer=line("Rustig aan? Tegen mij?"), assessment=assessment({"stays_calm": "fail", "takes_control": "fail"}, "provoke"))
    db.add_turn(a, t1, customer_line="Rustig aan? Tegen mij?", reply="Sorry. Wat is er gebeurd met uw pakket?", move="acknowledge",
                state_before={**state, "level": 2}, state_after=state, answer=line("Het is weg."),
                assessment=assessment({"stays_calm": "pass", "takes_control": "fail"}, "acknowledge"))
    b = db.create_session(owner="bram", scenario="phone", difficulty="hard", lang="en", mode="assessment", pass_mark=0.6,
                          opening={"text": "This bill is wrong."}, policy=[])
    db.add_turn(b, None, customer_line="This bill is wrong.", reply="I hear you, let me check the meter readings.",
                move="acknowledge", state_before=state, state_after={**state, "level": 0}, answer=None,
                assessment=assessment({"stays_calm": "pass", "takes_control": "pass"}, "acknowledge"))
    return a, b


@pytest.fixture
def db(tmp_path) -> Database:
    return Database.open(f"sqlite:///{tmp_path}/review.db")


def test_filters_and_text_search(db):
    a, b = seed(db)
    assert [s.id for s in review.find_sessions(db)] == [b, a]
    assert [s.id for s in review.find_sessions(db, owner="anna")] == [a]
    assert [s.id for s in review.find_sessions(db, scenario="phone", lang="en", mode="assessment")] == [b]
    assert [s.id for s in review.find_sessions(db, max_score=0.5)] == [a]
    assert [s.id for s in review.find_sessions(db, text="METER readings")] == [b]
    assert review.find_sessions(db, since=datetime.now(UTC) + timedelta(hours=1)) == []


def test_an_override_is_kept_beside_the_ai_verdict_and_appears_in_the_exports(db):
    a, _ = seed(db)
    first = db.path(a)[0]
    db.add_override(first.id, "takes_control", "pass", "She did ask for the code afterwards.", "rita")
    db.add_comment(first.id, "rita", "Classic reflex: 'rustig aan'.")
    assert db.turn(first.id).assessment["criteria"]["takes_control"]["verdict"] == "fail"  # the AI's stays
    rows = list(csv.DictReader(io.StringIO(review.export_csv(db, [a]))))
    assert (rows[0]["takes_control_ai"], rows[0]["takes_control_final"]) == ("fail", "pass")
    assert rows[0]["score"] == "0.500" and rows[1]["score"] == "0.500"
    md = review.export_markdown(db, a)
    assert "takes_control: fail → **pass** (reviewer rita: She did ask for the code afterwards.)" in md
    assert "> rita: Classic reflex: 'rustig aan'." in md
    with pytest.raises(ValueError):
        db.add_override(first.id, "takes_control", "maybe", "", "rita")


def test_exported_json_reimports_to_identical_records(db, tmp_path):
    a, _ = seed(db)
    t = db.path(a)[0]
    db.add_override(t.id, "stays_calm", "pass", "context", "rita")
    db.add_comment(t.id, "rita", "note")
    db.set_head(a, t.id)  # a retry: two branches
    db.add_turn(a, t.id, customer_line="Rustig aan? Tegen mij?", reply="Excuus, dat was niet handig.", move="acknowledge",
                state_before={"level": 2, "aggression_type": "frustration"},
                state_after={"level": 2, "aggression_type": "frustration"}, answer={"text": "Nou."})
    exported = json.loads(json.dumps(review.export_session(db, a)))
    other = Database.open(f"sqlite:///{tmp_path}/other.db")
    assert review.import_session(other, exported) == a
    assert review.export_session(other, a) == exported
    assert len(other.branches(a)) == 2
    with pytest.raises(ValueError, match="exists"):
        review.import_session(other, exported)


def test_dashboard_uses_the_effective_verdicts(db):
    a, b = seed(db)
    data = review.dashboard(db, review.find_sessions(db))
    rates = {r["criterion"]: r["pass_rate"] for r in data["pass_rate"]}
    assert rates == {"stays_calm": pytest.approx(2 / 3), "takes_control": pytest.approx(1 / 3)}
    assert data["failures"][0] == {"criterion": "takes_control", "failures": 2}
    assert {r["scenario"] for r in data["per_scenario"]} == {"counter", "phone"} and len(data["over_time"]) == 2


def test_passwords_are_salted_scrypt_hashes_and_roles_are_checked(db):
    h = hash_password("geheim123")
    assert h.startswith("scrypt$") and "geheim123" not in h and h != hash_password("geheim123")
    assert check_password("geheim123", h) and not check_password("geheim124", h) and not check_password("x", "garbage")
    users = Users(db)
    assert not users.required()
    users.add("rita", "reviewer", "geheim123")
    assert users.required() and users.login("rita", "geheim123") and not users.login("rita", "nope")
    assert users.role("rita") == "reviewer" and users.role("nobody") is None
    with pytest.raises(ValueError):
        users.add("rita", "reviewer", "geheim123")
    with pytest.raises(ValueError):
        users.add("tom", "admin", "geheim123")
    with pytest.raises(ValueError):
        users.add("tom", "trainee", "short")


def test_prompt_files_are_validated_before_saving_and_every_version_is_kept(db, tmp_path):
    import shutil

    from actor import prompt_files
    from actor.evaluator.rubric import PROMPTS_DIR

    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, root)
    original = (root / "scenarios/counter.yaml").read_text(encoding="utf-8")
    assert "scenarios/counter.yaml" in prompt_files.editable(root) and prompt_files.validate("scenarios/counter.yaml", original) == []
    bad = original.replace("difficulties:", "mood_swings: 3\ndifficulties:", 1)
    with pytest.raises(ValueError, match="mood_swings"):
        prompt_files.save("scenarios/counter.yaml", bad, "tina", db, root)
    assert (root / "scenarios/counter.yaml").read_text(encoding="utf-8") == original and db.prompt_versions("scenarios/counter.yaml") == []
    persona = (root / "persona/customer.yaml").read_text(encoding="utf-8")
    assert prompt_files.validate("persona/customer.yaml", persona.replace("een klant. {profile}", "een klant. {age}", 1)) == [
        "nl.system: unknown placeholder(s) {age}; allowed: {employee_role} {hidden} {name} {profile} {setting} {wants}"]
    better = original.replace("good_moves_to_deescalate: 2", "good_moves_to_deescalate: 3", 1)
    sha = prompt_files.save("scenarios/counter.yaml", better, "tina", db, root)
    versions = db.prompt_versions("scenarios/counter.yaml")
    assert [v.author for v in versions] == ["tina", "(original)"] and versions[0].sha256 == sha != versions[1].sha256
    assert versions[1].content == original and (root / "scenarios/counter.yaml").read_text(encoding="utf-8") == better
