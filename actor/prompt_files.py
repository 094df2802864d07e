"""The data files under ``prompts/``: one loader, one pydantic model per file and consumer.

:data:`FILES` is the table: for every file (or ``scenarios/*.yaml``) the model it is validated
with, what reads it, and whether the app uses it (``in_app``) or only the evaluation harness
(``evals/``). Each model rejects unknown keys and declares which ``str.format`` placeholders
each template may use (allowed) and must use (required); both are checked whenever a file is
validated, so a template the consumer cannot fill never loads, and the same check runs in the
trainer's editor before a save.

- ``parse(name, text) -> model`` validates a text as the file ``name``; raises
  :class:`PromptFileError` whose ``problems`` name the field, key or placeholder at fault.
- ``read(path, name) -> model``: a file from disk, with the sha256 of its bytes attached by the
  loader (``model.sha256``; never a key of the file: a file that sets ``sha256`` is refused).
- ``load(name) -> model``: the shipped file, read once per process and cached; ``reload()``
  empties that cache (the one way a running app picks up edited files; see
  :meth:`actor.session.Workbench.reload_prompts`).
- ``editable()``, ``validate(path, text)``, ``save(path, text, author, db)``: the trainer's editor.
  Only files the app uses are editable; evaluation-only files are edited on disk.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import string
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from actor.domain import PROMPTS_DIR


class PromptFileError(ValueError):
    """A prompt file that does not validate; ``problems``: one message per problem, each naming
    the field, key or placeholder at fault (``"context: missing required placeholder(s) {reply}"``)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Slots:
    """The placeholders one template may use (``allowed``) and must use (``required``)."""

    allowed: frozenset[str]
    required: frozenset[str] = frozenset()

    def problems(self, where: str, template: str) -> list[str]:
        """Problems of ``template`` (the field ``where``): not a valid format string, unknown
        placeholders (attribute or index access such as ``{reply.x}`` counts as unknown),
        required placeholders missing. Empty = fine."""
        try:
            used = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
        except ValueError as exc:
            return [f"{where}: not a valid template ({exc}); write {{{{ and }}}} for a literal brace"]
        out = []
        unknown = sorted(used - self.allowed)
        if unknown:
            allowed = " ".join(f"{{{n}}}" for n in sorted(self.allowed)) or "none (write {{ and }} for a literal brace)"
            out.append(f"{where}: unknown placeholder(s) {' '.join(f'{{{n}}}' for n in unknown)}; allowed: {allowed}")
        missing = sorted(self.required - used)
        if missing:
            out.append(f"{where}: missing required placeholder(s) {' '.join(f'{{{n}}}' for n in missing)}")
        return out


def _resolve(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
    return obj


class PromptModel(BaseModel):
    """Base of every prompt-file model: unknown keys rejected, immutable, placeholders checked
    against ``PLACEHOLDERS`` (dotted field path → :class:`Slots`) and ``REQUIRED_IN_FILE``
    (placeholders that must appear in at least one of the checked templates). ``sha256`` is the
    hash of the file the loader read (``""`` for a model built in code); it is not a field."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    PLACEHOLDERS: ClassVar[dict[str, Slots]] = {}
    REQUIRED_IN_FILE: ClassVar[frozenset[str]] = frozenset()
    _sha256: str = PrivateAttr(default="")

    @property
    def sha256(self) -> str:
        """Hex sha256 of the file this was loaded from (set by :func:`read`)."""
        return self._sha256

    @model_validator(mode="after")
    def _check_placeholders(self):
        problems, used = [], set()
        for where, slots in self.PLACEHOLDERS.items():
            template = _resolve(self, where)
            if isinstance(template, str):
                problems += slots.problems(where, template)
                try:
                    used |= {n for _, n, _, _ in string.Formatter().parse(template) if n}
                except ValueError:
                    pass
        missing = sorted(self.REQUIRED_IN_FILE - used)
        if missing and not problems:
            problems.append(f"missing required placeholder(s) {' '.join(f'{{{n}}}' for n in missing)} "
                            f"(in one of: {', '.join(self.PLACEHOLDERS)})")
        if problems:
            raise PromptFileError(problems)
        return self


TURN = frozenset({"scenario", "level", "level_name", "aggression_type", "policy", "customer", "reply"})
"""What every grading prompt can show of one turn (:func:`evals.baseline.grader.turn_fields`)."""
NONE: frozenset[str] = frozenset()


class CriterionPrompt(PromptModel):
    """``evaluator/criterion.yaml`` (the grader's per-criterion mode, evaluation only): a fixed
    ``system`` part, the turn's ``context`` (shared by every criterion of a turn) and the
    ``question`` asked per criterion."""

    PLACEHOLDERS: ClassVar[dict[str, Slots]] = {
        "system": Slots(NONE),
        "context": Slots(TURN, frozenset({"customer", "reply"})),
        "question": Slots(frozenset({"name", "passes_when", "checks", "good", "bad", "language"}),
                          frozenset({"name", "passes_when"})),
    }
    system: str
    context: str
    question: str


class GradePrompt(PromptModel):
    """``evaluator/grade.yaml`` (the grader's joint mode, evaluation only): the rubric in
    ``system``, the turn and the criteria to grade in ``user``."""

    PLACEHOLDERS: ClassVar[dict[str, Slots]] = {
        "system": Slots(frozenset({"rubric"}), frozenset({"rubric"})),
        "user": Slots(TURN | {"criteria", "language"}, frozenset({"customer", "reply", "criteria"})),
    }
    system: str
    user: str


class TonePrompt(PromptModel):
    """``evaluator/tone.yaml`` (:class:`evals.baseline.grader.ToneJudge`, evaluation only)."""

    PLACEHOLDERS: ClassVar[dict[str, Slots]] = {"system": Slots(NONE), "user": Slots(frozenset({"text"}), frozenset({"text"}))}
    system: str
    user: str


class SpeakerPrompt(PromptModel):
    """``evaluator/in_character.yaml``: who says a customer line (``evals/actor`` only)."""

    PLACEHOLDERS: ClassVar[dict[str, Slots]] = {
        "system": Slots(NONE), "user": Slots(frozenset({"setting", "line"}), frozenset({"line"}))}
    system: str
    user: str


class DebriefPrompt(PromptModel):
    """``evaluator/debrief.yaml`` (:func:`~actor.evaluator.debrief.write_debrief`, in the app):
    better phrasings for the weakest moments and one next exercise."""

    PLACEHOLDERS: ClassVar[dict[str, Slots]] = {
        "system": Slots(NONE),
        "user": Slots(frozenset({"items", "n", "weakest", "language"}), frozenset({"items", "language"})),
    }
    system: str
    user: str


WORDING_FIELDS = frozenset({"language", "scenario", "policy", "customer", "reply", "failed"})


class WordingPrompt(PromptModel):
    """``judgement/wording.yaml`` (:class:`~actor.judgement.wording.Writer`, in the app): the
    better phrasing for a reply with fixed verdicts; ``{language}`` must appear in one of the two
    templates."""

    PLACEHOLDERS: ClassVar[dict[str, Slots]] = {
        "system": Slots(WORDING_FIELDS), "user": Slots(WORDING_FIELDS, frozenset({"reply", "failed"}))}
    REQUIRED_IN_FILE: ClassVar[frozenset[str]] = frozenset({"language"})
    system: str
    user: str


PERSONA_SLOTS = {
    "system": Slots(frozenset({"name", "profile", "setting", "wants", "employee_role", "hidden"}), frozenset({"name", "wants"})),
    "user": Slots(frozenset({"examples", "employee", "reply", "changed", "mood", "tactic", "speaker"}), frozenset({"reply"})),
    "changes.fact": Slots(frozenset({"fact", "ask_about"}), frozenset({"fact"})),
}
"""The customer's prompt (:class:`~actor.persona.actor.PersonaPrompt`), per language."""


@lru_cache(maxsize=1)
def _customer_prompt_model() -> type[PromptModel]:
    from actor.persona.actor import PersonaPrompt

    class CustomerPromptFile(PromptModel):
        """``persona/customer.yaml``: the customer's prompt in ``nl`` and ``en`` (read by
        :func:`actor.persona.actor.load_persona_prompt`; validated here for the editor)."""

        PLACEHOLDERS: ClassVar[dict[str, Slots]] = {f"{lang}.{k}": v for lang in ("nl", "en") for k, v in PERSONA_SLOTS.items()}
        nl: PersonaPrompt
        en: PersonaPrompt

    return CustomerPromptFile


def _rubric():
    from actor.evaluator.rubric import Rubric

    return Rubric


def _scenario():
    from actor.persona.scenario import Scenario

    return Scenario


class MoveBank(PromptModel):
    """``prompts/evaluator/moves.yaml``: example replies per move for the baseline move judge
    (``evals/baseline/move.py``; unknown keys rejected, ``sha256`` set by the loader)."""

    acknowledge: list[str]
    boundary: list[str]
    cave: list[str]
    provoke: list[str]
    neutral: list[str]


@dataclass(frozen=True)
class PromptFile:
    """One row of :data:`FILES`: ``pattern`` (a path under ``prompts/``, or a glob), the model
    (a function returning it, so the table imports nothing heavy), ``used_by`` (who reads it)
    and ``in_app`` (``False``: only the evaluation harness reads it, so the editor leaves it out)."""

    pattern: str
    model: Callable[[], type[BaseModel]]
    used_by: str
    in_app: bool


FILES: tuple[PromptFile, ...] = (
    PromptFile("rubric.yaml", _rubric, "the judgement of every turn and the debrief", True),
    PromptFile("scenarios/*.yaml", _scenario, "sessions started after the save", True),
    PromptFile("persona/customer.yaml", _customer_prompt_model, "the customer in sessions started after the save", True),
    PromptFile("judgement/wording.yaml", lambda: WordingPrompt, "the feedback words", True),
    PromptFile("evaluator/debrief.yaml", lambda: DebriefPrompt, "the debrief at the end of a session", True),
    PromptFile("evaluator/criterion.yaml", lambda: CriterionPrompt, "evals: the grader, per criterion", False),
    PromptFile("evaluator/grade.yaml", lambda: GradePrompt, "evals: the grader, joint mode", False),
    PromptFile("evaluator/tone.yaml", lambda: TonePrompt, "evals: tone against human ratings", False),
    PromptFile("evaluator/in_character.yaml", lambda: SpeakerPrompt, "evals/actor: who says a line", False),
    PromptFile("evaluator/moves.yaml", lambda: MoveBank, "evals: the nearest-example move judge", False),
)


def spec(name: str) -> PromptFile:
    """The table row for ``name`` (a path relative to ``prompts/``, ``/`` separated); raises
    ``KeyError`` for a file that is not in :data:`FILES`."""
    for row in FILES:
        if fnmatch.fnmatchcase(name, row.pattern) and "/" not in name[len(row.pattern.split("*")[0]):]:
            return row
    raise KeyError(f"{name} is not a prompt file")


def _problems(error: ValidationError) -> list[str]:
    out = []
    for e in error.errors():
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, PromptFileError):
            out += cause.problems
            continue
        where = ".".join(str(x) for x in e["loc"])
        msg = "unknown key (not allowed in this file)" if e["type"] == "extra_forbidden" else e["msg"]
        if e["type"] == "value_error" and isinstance(cause, Exception):
            msg = str(cause)
        out.append(f"{where}: {msg}" if where else msg)
    return out


M = TypeVar("M", bound=BaseModel)


def parse(name: str, text: str) -> BaseModel:
    """``text`` validated as the file ``name`` (relative to ``prompts/``): the row's model.

    Raises :class:`PromptFileError` (with every problem found) for text that is not a YAML
    mapping, sets ``sha256``, misses a required field, has an unknown key, uses an unknown
    placeholder or lacks a required one, or (a scenario) has an ``id`` other than its file name;
    ``KeyError`` when ``name`` is not a prompt file."""
    row = spec(name)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PromptFileError([f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise PromptFileError(["the file must be a YAML mapping (key: value lines)"])
    if "sha256" in data:
        raise PromptFileError(["sha256: unknown key (the hash is computed from the file when it is loaded)"])
    try:
        model = row.model().model_validate(data)
    except ValidationError as exc:
        raise PromptFileError(_problems(exc)) from None
    if row.pattern == "scenarios/*.yaml" and Path(name).stem != model.id:
        raise PromptFileError([f"id: must be {Path(name).stem!r} (the file name), got {model.id!r}"])
    return model


def _with_hash(model: M, sha: str) -> M:
    if isinstance(model, PromptModel):
        model._sha256 = sha
    return model


def read(path: Path, name: str | None = None) -> BaseModel:
    """The file at ``path`` parsed as the prompt file ``name`` (default: ``path`` relative to
    ``prompts/``), with the sha256 of its bytes attached (``.sha256``). Raises
    :class:`PromptFileError` for an invalid file (see :func:`parse`), ``FileNotFoundError``,
    ``KeyError`` for a name that is not a prompt file, ``ValueError`` when ``name`` is omitted
    for a path outside ``prompts/``."""
    raw = Path(path).read_bytes()
    name = name or Path(path).resolve().relative_to(PROMPTS_DIR).as_posix()
    return _with_hash(parse(name, raw.decode("utf-8")), hashlib.sha256(raw).hexdigest())


_cache: dict[str, BaseModel] = {}


def load(name: str) -> BaseModel:
    """The shipped file ``prompts/<name>``, read once per process (see :func:`read` for errors);
    :func:`reload` makes the next call read it again."""
    if name not in _cache:
        _cache[name] = read(PROMPTS_DIR / name, name)
    return _cache[name]


def reload() -> None:
    """Forget every file :func:`load` has read: the next use reads the files on disk again.
    Objects already built from the old files keep them."""
    _cache.clear()


def editable(root: Path = PROMPTS_DIR) -> list[str]:
    """The files a trainer may edit in the app, relative to ``root``, sorted: those the app
    uses (``in_app``); evaluation-only files are left out."""
    out = []
    for p in root.rglob("*.yaml"):
        name = p.relative_to(root).as_posix()
        try:
            if spec(name).in_app:
                out.append(name)
        except KeyError:
            continue
    return sorted(out)


def validate(path: str, text: str) -> list[str]:
    """Problems of ``text`` as the file ``path`` (relative to ``prompts/``); empty = valid.
    A path that is not an editable file is one problem."""
    try:
        row = spec(path)
    except KeyError:
        return [f"{path} is not an editable file"]
    if not row.in_app:
        return [f"{path} is only read by the evaluation harness, not by the app: edit it on disk"]
    try:
        parse(path, text)
    except PromptFileError as exc:
        return exc.problems
    return []


def save(path: str, text: str, author: str, db, root: Path = PROMPTS_DIR) -> str:
    """Write ``text`` to ``root/path`` if valid and keep the version in ``db`` (the original
    too, the first time); returns the new text's sha256. Raises :class:`PromptFileError` with
    the problems (a ``ValueError``; the file and ``db`` are unchanged). Running code sees the
    new file after :func:`reload`."""
    if path not in editable(root):
        raise PromptFileError([f"{path} is not an editable file"])
    problems = validate(path, text)
    if problems:
        raise PromptFileError(problems)
    target = root / path
    if not db.prompt_versions(path):  # keep the original readable too
        original = target.read_text(encoding="utf-8")
        db.add_prompt_version(path, original, hashlib.sha256(original.encode()).hexdigest(), "(original)")
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, target)
    sha = hashlib.sha256(text.encode()).hexdigest()
    db.add_prompt_version(path, text, sha, author)
    return sha
