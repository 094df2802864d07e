"""The data files trainers edit: scenarios, the customer's prompt, the rubric, the evaluator's
prompts and the move examples. Each is validated by its pydantic model before it is saved;
an invalid text never reaches the disk.

``editable()`` lists them (paths relative to ``prompts/``); ``validate(path, text)`` returns the
list of problems (empty = valid); ``save(path, text, author, db)`` writes a valid text atomically
and keeps the version (content + sha256) in the database, so every version stays readable
(the original is kept too, the first time a file is saved).
"""

from __future__ import annotations

import hashlib
import os
import string
import tempfile
from pathlib import Path

import yaml
from pydantic import ValidationError

from actor.evaluator.rubric import PROMPTS_DIR

PERSONA_FIELDS = {"system": {"name", "profile", "setting", "wants", "employee_role", "hidden"},
                  "user": {"examples", "employee", "reply", "changed", "mood", "tactic", "speaker"}}


def editable(root: Path = PROMPTS_DIR) -> list[str]:
    """The editable files, relative to ``root``, sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.yaml"))


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def _problems(error: ValidationError) -> list[str]:
    return [f"{'.'.join(str(x) for x in e['loc']) or '(file)'}: {e['msg']}" for e in error.errors()]


def validate(path: str, text: str) -> list[str]:
    """Problems of ``text`` as the file ``path`` (relative to ``prompts/``); empty = valid."""
    from actor.evaluator.grader import PromptTemplate
    from actor.evaluator.move import MoveBank
    from actor.evaluator.rubric import Rubric
    from actor.persona.actor import PersonaPrompt
    from actor.persona.scenario import Scenario

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"not valid YAML: {exc}"]
    if not isinstance(data, dict):
        return ["the file must be a YAML mapping (key: value lines)"]
    try:
        if path.startswith("scenarios/"):
            scenario = Scenario.model_validate(data)
            if Path(path).stem != scenario.id:
                return [f"id: must be {Path(path).stem!r} (the file name), got {scenario.id!r}"]
        elif path == "persona/customer.yaml":
            problems = []
            for lang, value in data.items():
                if lang not in ("nl", "en"):
                    problems.append(f"{lang}: only nl and en are allowed")
                    continue
                prompt = PersonaPrompt.model_validate(value)
                for part, allowed in PERSONA_FIELDS.items():
                    unknown = _placeholders(getattr(prompt, part)) - allowed
                    if unknown:
                        problems.append(f"{lang}.{part}: unknown placeholder(s) {', '.join(sorted(unknown))}; "
                                        f"allowed: {', '.join(sorted(allowed))}")
            return problems
        elif path == "rubric.yaml":
            Rubric.model_validate(data)
        elif path == "evaluator/moves.yaml":
            MoveBank.model_validate(data)
        elif path.startswith("evaluator/"):
            PromptTemplate.model_validate(data)
        else:
            return [f"{path} is not an editable file"]
    except ValidationError as exc:
        return _problems(exc)
    return []


def save(path: str, text: str, author: str, db, root: Path = PROMPTS_DIR) -> str:
    """Write ``text`` to ``root/path`` if valid and keep the version; returns its sha256.
    Raises ``ValueError`` with the problems (the file is unchanged)."""
    if path not in editable(root):
        raise ValueError(f"{path} is not an editable file")
    problems = validate(path, text)
    if problems:
        raise ValueError("; ".join(problems))
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
