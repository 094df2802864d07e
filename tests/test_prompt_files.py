"""The prompt files: every shipped file loads through the one loader; a file that misses a
required field, uses an unknown placeholder, lacks a required placeholder or sets ``sha256`` is
refused at load time and in the trainer's editor, with a message naming the problem, and the
editor then keeps the old file."""

from __future__ import annotations

import copy
import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from actor import prompt_files
from actor.db import Database
from actor.domain import PROMPTS_DIR
from actor.prompt_files import FILES, PromptFileError

SHIPPED = sorted(p.relative_to(PROMPTS_DIR).as_posix() for p in PROMPTS_DIR.rglob("*.yaml"))


def _node(data: dict, dotted: str) -> tuple[dict, str]:
    *parents, key = dotted.split(".")
    for part in parents:
        data = data[part]
    return data, key


def drop(dotted: str):
    """A mutation that deletes the key ``dotted`` (``nl.start``: ``start`` under ``nl``)."""
    def apply(data: dict) -> None:
        node, key = _node(data, dotted)
        del node[key]
    return apply


def edit(dotted: str, old: str, new: str):
    """A mutation that replaces ``old`` by ``new`` in the text at ``dotted`` (``old`` must occur)."""
    def apply(data: dict) -> None:
        node, key = _node(data, dotted)
        assert old in node[key], f"{old!r} not in {dotted}: the case no longer tests anything"
        node[key] = node[key].replace(old, new)
    return apply


def append(dotted: str, extra: str):
    """A mutation that adds ``extra`` at the end of the text at ``dotted``."""
    def apply(data: dict) -> None:
        node, key = _node(data, dotted)
        node[key] = node[key] + extra
    return apply


def set_hash(data: dict) -> None:
    data["sha256"] = "0" * 64


def wording_without_language(data: dict) -> None:
    for key in ("system", "user"):
        data[key] = data[key].replace("{language}", "Dutch")


# (file, mutation, what the message must say)
BAD = [
    # a required field is missing
    ("evaluator/criterion.yaml", drop("context"), "context: Field required"),
    ("evaluator/criterion.yaml", drop("question"), "question: Field required"),
    ("evaluator/grade.yaml", drop("user"), "user: Field required"),
    ("evaluator/tone.yaml", drop("user"), "user: Field required"),
    ("evaluator/in_character.yaml", drop("system"), "system: Field required"),
    ("evaluator/debrief.yaml", drop("user"), "user: Field required"),
    ("judgement/wording.yaml", drop("system"), "system: Field required"),
    ("evaluator/moves.yaml", drop("cave"), "cave: Field required"),
    ("rubric.yaml", drop("version"), "version: Field required"),
    ("persona/customer.yaml", drop("en"), "en: Field required"),
    ("persona/customer.yaml", drop("nl.start"), "nl.start: Field required"),
    ("persona/customer.yaml", drop("nl.tactics.belittle"), "tactics must name exactly the playbook's tactics and close (missing ['belittle']"),
    ("persona/customer.yaml", drop("en.moods"), "en.moods: Field required"),
    ("scenarios/counter.yaml", drop("briefing"), "briefing: Field required"),
    # an unknown placeholder
    ("evaluator/criterion.yaml", append("context", "Age: {age}"), "context: unknown placeholder(s) {age}"),
    ("evaluator/criterion.yaml", append("question", "{rubric}"), "question: unknown placeholder(s) {rubric}"),
    ("evaluator/grade.yaml", append("user", "{tip}"), "user: unknown placeholder(s) {tip}"),
    ("evaluator/tone.yaml", append("system", "{text}"), "system: unknown placeholder(s) {text}; allowed: none"),
    ("evaluator/in_character.yaml", append("user", "{speaker}"), "user: unknown placeholder(s) {speaker}"),
    ("evaluator/debrief.yaml", edit("user", "{items}", "{itemz} {items}"), "user: unknown placeholder(s) {itemz}"),
    ("evaluator/debrief.yaml", append("user", "{}"), "user: unknown placeholder(s) {}"),
    ("judgement/wording.yaml", append("system", "{trainee}"), "system: unknown placeholder(s) {trainee}"),
    ("judgement/wording.yaml", edit("user", "{reply}", "{reply.__class__}"), "user: unknown placeholder(s) {reply.__class__}"),
    ("evaluator/grade.yaml", append("user", " {"), "user: not a valid template"),
    ("persona/customer.yaml", edit("nl.system", "{profile}", "{age}"), "nl.system: unknown placeholder(s) {age}"),
    ("persona/customer.yaml", append("en.user", "{level}"), "en.user: unknown placeholder(s) {level}"),
    ("persona/customer.yaml", append("en.changes.fact", "{hint}"), "en.changes.fact: unknown placeholder(s) {hint}"),
    # a required placeholder is missing
    ("evaluator/criterion.yaml", edit("context", "{reply}", "the reply"), "context: missing required placeholder(s) {reply}"),
    ("evaluator/criterion.yaml", edit("question", "{passes_when}", "it is good"),
     "question: missing required placeholder(s) {passes_when}"),
    ("evaluator/grade.yaml", edit("system", "{rubric}", "the rubric"), "system: missing required placeholder(s) {rubric}"),
    ("evaluator/grade.yaml", edit("user", "{criteria}", "all"), "user: missing required placeholder(s) {criteria}"),
    ("evaluator/tone.yaml", edit("user", "{text}", "the text"), "user: missing required placeholder(s) {text}"),
    ("evaluator/in_character.yaml", edit("user", "{line}", "the line"), "user: missing required placeholder(s) {line}"),
    ("evaluator/debrief.yaml", edit("user", "{items}", "the moments"), "user: missing required placeholder(s) {items}"),
    ("evaluator/debrief.yaml", edit("user", "{language}", "English"), "user: missing required placeholder(s) {language}"),
    ("judgement/wording.yaml", edit("user", "{failed}", "the criteria"), "user: missing required placeholder(s) {failed}"),
    ("judgement/wording.yaml", wording_without_language, "missing required placeholder(s) {language} (in one of: system, user)"),
    ("persona/customer.yaml", edit("en.user", "{reply}", "the reply"), "en.user: missing required placeholder(s) {reply}"),
    ("persona/customer.yaml", edit("nl.changes.fact", "{fact}", "iets"), "nl.changes.fact: missing required placeholder(s) {fact}"),
    # the hash is the loader's, never the file's
    *[(name, set_hash, "sha256: unknown key") for name in
      ("rubric.yaml", "scenarios/counter.yaml", "persona/customer.yaml", "judgement/wording.yaml", "evaluator/debrief.yaml",
       "evaluator/criterion.yaml", "evaluator/grade.yaml", "evaluator/tone.yaml", "evaluator/in_character.yaml",
       "evaluator/moves.yaml")],
]


def bad_text(name: str, mutate) -> str:
    data = copy.deepcopy(yaml.safe_load((PROMPTS_DIR / name).read_text(encoding="utf-8")))
    mutate(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def case_id(case) -> str:
    name, _, expected = case
    return f"{name}: {expected}"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_file_is_in_the_table_and_loads(name):
    row = prompt_files.spec(name)
    model = prompt_files.read(PROMPTS_DIR / name)
    assert isinstance(model, row.model())
    assert model.sha256 == hashlib.sha256((PROMPTS_DIR / name).read_bytes()).hexdigest()
    assert prompt_files.load(name) is prompt_files.load(name)  # read once, then cached


def test_every_table_row_has_a_shipped_file():
    for row in FILES:
        assert any(prompt_files.spec(name) is row for name in SHIPPED), row.pattern


@pytest.mark.parametrize("case", BAD, ids=case_id)
def test_a_bad_file_is_refused_at_load_time_naming_the_problem(case, tmp_path):
    name, mutate, expected = case
    path = tmp_path / Path(name).name
    path.write_text(bad_text(name, mutate), encoding="utf-8")
    with pytest.raises(PromptFileError) as refused:
        prompt_files.read(path, name)
    assert any(expected in p for p in refused.value.problems), refused.value.problems


def test_the_dump_of_a_shipped_file_still_loads(tmp_path):
    """The cases above rewrite files through YAML; unchanged, that rewrite is valid, so each
    refusal comes from the mutation alone."""
    for name in {case[0] for case in BAD}:
        path = tmp_path / Path(name).name
        path.write_text(bad_text(name, lambda data: None), encoding="utf-8")
        prompt_files.read(path, name)


def test_the_models_themselves_forbid_a_sha256_key():
    from actor.evaluator.rubric import Rubric

    data = yaml.safe_load((PROMPTS_DIR / "rubric.yaml").read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match="sha256"):
        Rubric.model_validate({**data, "sha256": "0" * 64})
    tone = yaml.safe_load((PROMPTS_DIR / "evaluator/tone.yaml").read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match="sha256"):
        prompt_files.TonePrompt.model_validate({**tone, "sha256": "0" * 64})
    assert prompt_files.TonePrompt.model_validate(tone).sha256 == ""  # only the loader sets it


def test_evaluation_only_files_stay_out_of_the_editor():
    editable = prompt_files.editable()
    for row in FILES:
        names = [n for n in SHIPPED if prompt_files.spec(n) is row]
        assert all((n in editable) == row.in_app for n in names), row.pattern
    assert "evaluator/criterion.yaml" not in editable and "rubric.yaml" in editable
    text = (PROMPTS_DIR / "evaluator/tone.yaml").read_text(encoding="utf-8")
    assert prompt_files.validate("evaluator/tone.yaml", text) == [
        "evaluator/tone.yaml is only read by the evaluation harness, not by the app: edit it on disk"]


class Bench:
    """What the editor needs of the workbench: counts its reloads."""

    def __init__(self) -> None:
        self.reloads = 0

    def reload_prompts(self) -> None:
        self.reloads += 1


@pytest.fixture
def editor(tmp_path):
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, root)
    return root, Database.open(f"sqlite:///{tmp_path}/editor.db"), Bench()


@pytest.mark.parametrize("case", [c for c in BAD if prompt_files.spec(c[0]).in_app], ids=case_id)
def test_the_editor_refuses_a_bad_save_and_keeps_the_old_file(case, editor):
    from actor.web.trainer import save_edit

    name, mutate, expected = case
    root, db, bench = editor
    before = (root / name).read_bytes()
    with pytest.raises(PromptFileError) as refused:
        save_edit(name, bad_text(name, mutate), "tina", db, bench, root)
    assert any(expected in p for p in refused.value.problems), refused.value.problems
    assert (root / name).read_bytes() == before and db.prompt_versions(name) == [] and bench.reloads == 0


def test_the_editor_saves_a_good_edit_and_reloads(editor):
    from actor.web.trainer import save_edit

    root, db, bench = editor
    name = "evaluator/debrief.yaml"
    text = (root / name).read_text(encoding="utf-8").replace("Never blame the trainee", "Do not blame the trainee")
    sha = save_edit(name, text, "tina", db, bench, root)
    assert (root / name).read_text(encoding="utf-8") == text and bench.reloads == 1
    assert [v.author for v in db.prompt_versions(name)] == ["tina", "(original)"] and sha == hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(PromptFileError, match="only read by the evaluation harness"):
        save_edit("evaluator/grade.yaml", (root / "evaluator/grade.yaml").read_text(encoding="utf-8"), "tina", db, bench, root)
    assert bench.reloads == 1


def test_reload_reads_the_files_again(monkeypatch, tmp_path):
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, root)
    monkeypatch.setattr(prompt_files, "PROMPTS_DIR", root)
    prompt_files.reload()
    try:
        first = prompt_files.load("evaluator/tone.yaml")
        path = root / "evaluator/tone.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("one message", "one short message"), encoding="utf-8")
        assert prompt_files.load("evaluator/tone.yaml") is first  # cached until reloaded
        prompt_files.reload()
        again = prompt_files.load("evaluator/tone.yaml")
        assert "one short message" in again.system and again.sha256 != first.sha256
    finally:
        monkeypatch.undo()
        prompt_files.reload()


def test_the_workbench_reload_gives_the_judge_the_rubric_on_disk():
    from actor.evaluator.rubric import default_rubric
    from actor.session import Workbench

    class Judge:
        rubric = None

        def use_rubric(self, rubric):
            self.rubric = rubric

    bench = Workbench({}, None, None, None, Judge(), "fake")
    bench.reload_prompts()
    assert set(bench.scenarios) == {"counter", "phone", "office", "intimidation"}
    assert bench.judge.rubric is default_rubric() and len(bench.judge.rubric.sha256) == 64
